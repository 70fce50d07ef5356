"""Retries, deadlines and the circuit breaker, driven by the fake LLM's faults and a
FakeClock (backoff and cooldown are asserted, never waited for)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import httpx2
import openai
import pytest

from mock_llm import ThreadedServer
from reference_service import create_app
from reference_service.clock import FakeClock
from reference_service.errors import CircuitOpen
from reference_service.llm.breaker import BreakerConfig, BreakerRegistry
from tests.support import parse_sse

ASK = {"message": "What is HBM3?"}


# -- retries (the session service: 3 attempts, FakeClock) --------------------------------


def test_500_500_200_is_a_200_after_exactly_3_calls(client, mock, service):
    mock.state.fail_next(2, "500")
    r = client.post("/chat", json=ASK)
    assert r.status_code == 200
    assert [c.status for c in mock.state.chat_requests()] == [500, 500, 200]
    # full-jitter exponential backoff: uniform in [0, 0.5 s], then [0, 1 s]
    assert len(service.clock.sleeps) == 2
    assert 0 <= service.clock.sleeps[0] <= 0.5 and 0 <= service.clock.sleeps[1] <= 1.0


def test_429_with_retry_after_2_waits_2_seconds(client, mock, service):
    mock.state.fail_next(1, "429", retry_after=2)
    r = client.post("/chat", json=ASK)
    assert r.status_code == 200 and service.clock.sleeps == [2.0]
    assert len(mock.state.chat_requests()) == 2


def test_retry_after_beyond_the_deadline_fails_at_once_without_sleeping(client, mock, service):
    mock.state.fail_next(1, "503", retry_after=30)  # the deadline is 10 s
    r = client.post("/chat", json=ASK)
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    assert service.clock.sleeps == [] and len(mock.state.chat_requests()) == 1


@pytest.mark.parametrize("kind", ["400", "401", "403", "404", "422"])
def test_client_errors_are_never_retried(client, mock, service, kind):
    mock.state.fail_next(3, kind)
    assert client.post("/chat", json=ASK).status_code in (400, 502)
    assert len(mock.state.chat_requests()) == 1 and service.clock.sleeps == []


def test_a_stream_is_retried_until_its_first_token(client, mock):
    mock.state.fail_next(2, "503", retry_after=1)
    with client.stream("POST", "/chat/stream", json=ASK) as r:
        events = parse_sse(r.iter_lines())
    assert r.status_code == 200 and events[-1].event == "done"
    assert len(mock.state.chat_requests()) == 3


def test_no_retry_once_the_first_token_is_out(client, mock):
    mock.state.fail_next(1, "drop", after_chunks=2)
    with client.stream("POST", "/chat/stream", json=ASK) as r:
        events = parse_sse(r.iter_lines())
    assert [e.event for e in events] == ["token", "error"]
    assert len(mock.state.chat_requests()) == 1


def test_hung_upstream_is_504_at_the_deadline_and_the_call_is_cancelled(mock):
    from tests.support import make_settings

    app = create_app(make_settings(openai_base_url=mock.base_url, request_timeout_s=0.5))
    mock.state.fail_next(1, "hang")
    with ThreadedServer(app) as server:
        r = httpx.post(server.url + "/chat", json=ASK, timeout=10)
    assert r.status_code == 504 and r.json()["error"]["type"] == "upstream_timeout"
    [rec] = mock.state.chat_requests()  # one call: the deadline is spent, no retry
    for _ in range(100):
        if rec.outcome == "client_disconnected":
            break
        asyncio.run(asyncio.sleep(0.02))
    assert rec.outcome == "client_disconnected"  # the upstream saw the call go away


# -- the breaker on its own (fakeredis and a real Redis 8) --------------------------------


def registry(redis, clock, sync_s=0.25):
    return BreakerRegistry(
        redis,
        clock,
        BreakerConfig(failure_threshold=5, cooldown_s=30, probe_lease_s=10, sync_s=sync_s),
    )


async def test_breaker_opens_on_the_5th_consecutive_failure(async_redis_factory):
    clock = FakeClock()
    b = registry(async_redis_factory(), clock).for_model("gpt-4o-mini")
    for _ in range(4):
        assert (await b.allow()).probe is False
        await b.record_failure()
    assert b.state == "closed"
    await b.allow()
    await b.record_failure()
    assert b.state == "open"
    with pytest.raises(CircuitOpen) as e:
        await b.allow()
    assert e.value.retry_after == 30 and e.value.status == 503


async def test_a_success_resets_the_count(async_redis_factory):
    b = registry(async_redis_factory(), FakeClock()).for_model("m")
    for _ in range(4):
        await b.record_failure()
    await b.record_success()
    for _ in range(4):
        await b.record_failure()
    assert b.state == "closed" and (await b.allow()).probe is False


async def test_exactly_one_probe_after_the_cooldown_then_close_or_reopen(async_redis_factory):
    clock = FakeClock()
    b = registry(async_redis_factory(), clock).for_model("m")
    for _ in range(5):
        await b.record_failure()
    clock.advance(29)
    with pytest.raises(CircuitOpen) as e:
        await b.allow()
    assert e.value.retry_after in (1, 2)
    clock.advance(1)
    assert (await b.allow()).probe is True  # the probe
    for _ in range(10):
        with pytest.raises(CircuitOpen):
            await b.allow()
    await b.record_failure(probe=True)  # probe failed: open again, for a full cooldown
    assert b.state == "open"
    clock.advance(30)
    assert (await b.allow()).probe is True
    await b.record_success(probe=True)
    assert b.state == "closed" and (await b.allow()).probe is False
    assert [s for _, s in b.transitions] == ["open", "half_open", "open", "half_open", "closed"]


async def test_a_probe_that_never_reports_back_loses_its_slot_after_the_lease(async_redis_factory):
    clock = FakeClock()
    b = registry(async_redis_factory(), clock).for_model("m")
    for _ in range(5):
        await b.record_failure()
    clock.advance(30)
    assert (await b.allow()).probe is True  # a probe whose worker then dies
    clock.advance(5)
    with pytest.raises(CircuitOpen):
        await b.allow()
    clock.advance(6)  # past the 10 s lease
    assert (await b.allow()).probe is True


async def test_state_is_shared_between_workers_and_one_probe_in_all(redis_url):
    """Two registries on one real Redis stand for two workers (or replicas)."""
    import redis.asyncio as aredis

    clock = FakeClock()
    r = aredis.from_url(redis_url)
    await r.flushdb()
    worker_a = registry(aredis.from_url(redis_url), clock).for_model("gpt-4o")
    worker_b = registry(aredis.from_url(redis_url), clock).for_model("gpt-4o")
    for i in range(5):  # failures seen by either worker add up
        await (worker_a if i % 2 else worker_b).record_failure()
    with pytest.raises(CircuitOpen):
        await worker_a.allow()
    clock.advance(30)
    results = await asyncio.gather(
        *[w.allow() for w in [worker_a, worker_b] * 5], return_exceptions=True
    )
    assert sum(getattr(r, "probe", False) is True for r in results) == 1  # one probe in all
    assert sum(isinstance(r, CircuitOpen) for r in results) == 9
    await r.aclose()


async def test_redis_down_lets_calls_through(caplog):
    from mock_llm import free_port
    from reference_service.redis_client import make_redis
    from tests.support import make_settings

    dead = make_redis(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    b = registry(dead, FakeClock()).for_model("m")
    logger = logging.getLogger("reference_service")
    logger.addHandler(caplog.handler)
    try:
        for _ in range(3):
            assert (await b.allow()).probe is False
            await b.record_failure()
    finally:
        logger.removeHandler(caplog.handler)
    # one record (caplog may hold it twice: through our handler, and through the root
    # logger's while logging is not configured yet, as when this test runs alone)
    warned = {id(r) for r in caplog.records if "Redis unreachable" in r.getMessage()}
    assert len(warned) == 1
    await dead.aclose()


# -- the breaker in the service ----------------------------------------------------------


def one_attempt_service(mock, **overrides):
    """A service that makes one attempt per request, so each request is one breaker call."""
    from tests.support import make_settings

    clock = FakeClock()
    app = create_app(
        make_settings(openai_base_url=mock.base_url, retry_max_attempts=1, **overrides), clock=clock
    )
    server = ThreadedServer(app)
    server.clock = clock
    return server


@pytest.fixture
def no_retry_service(mock):
    with one_attempt_service(mock, breaker_fallback=False) as server:
        yield server


@pytest.fixture
def fallback_service(mock):
    with one_attempt_service(mock, breaker_fallback=True) as server:
        yield server


def test_breaker_in_the_service(no_retry_service, mock):
    url = no_retry_service.url
    mock.state.fail_next(5, "500")
    statuses = [httpx.post(url + "/chat", json=ASK).status_code for _ in range(5)]
    assert statuses == [502] * 5
    r = httpx.post(url + "/chat", json=ASK)  # the 6th: refused without calling the upstream
    assert r.status_code == 503 and r.json()["error"]["type"] == "circuit_open"
    assert 1 <= int(r.headers["retry-after"]) <= 30
    assert len(mock.state.chat_requests()) == 5
    # other models have their own breaker
    assert httpx.post(url + "/chat", json={**ASK, "model": "gpt-4o"}).status_code == 200

    no_retry_service.clock.advance(30)
    mock.config.latency = "realistic"  # the probe takes ~1 s: the others arrive meanwhile

    async def burst():
        async with httpx.AsyncClient(base_url=url, timeout=20) as c:
            return await asyncio.gather(*[c.post("/chat", json=ASK) for _ in range(10)])

    before = len(mock.state.chat_requests())
    results = asyncio.run(burst())
    assert sorted(r.status_code for r in results) == [200] + [503] * 9
    assert len(mock.state.chat_requests()) == before + 1  # exactly one probe
    mock.config.latency = "zero"
    assert httpx.post(url + "/chat", json=ASK).status_code == 200  # closed again


def test_failed_probe_reopens(no_retry_service, mock):
    url = no_retry_service.url
    mock.state.fail_next(6, "503")
    for _ in range(5):
        httpx.post(url + "/chat", json=ASK)
    no_retry_service.clock.advance(30)
    assert httpx.post(url + "/chat", json=ASK).json()["error"]["type"] == "upstream_unavailable"
    r = httpx.post(url + "/chat", json=ASK)
    assert r.json()["error"]["type"] == "circuit_open"
    assert len(mock.state.chat_requests()) == 6


def test_client_errors_do_not_open_the_breaker(no_retry_service, mock):
    url = no_retry_service.url
    mock.state.fail_next(6, "400")
    for _ in range(6):
        assert httpx.post(url + "/chat", json=ASK).status_code == 400
    assert httpx.post(url + "/chat", json=ASK).status_code == 200


def test_routed_requests_fall_back_when_their_models_breaker_is_open(fallback_service, mock):
    url = fallback_service.url
    hard = {
        "message": "Design a memory subsystem for a 4-GPU inference server and justify "
        "the HBM capacity."
    }
    mock.state.fail_next(5, "500", model="gpt-4o")
    for _ in range(5):
        assert httpx.post(url + "/chat/smart", json=hard).status_code == 502
    r = httpx.post(url + "/chat/smart", json=hard)  # routed to gpt-4o, whose breaker is open
    assert r.status_code == 200
    assert r.json()["model_used"] == "gpt-4o-mini" == r.headers["x-model"]
    assert r.json()["routing"]["fallback_from"] == "gpt-4o" == r.headers["x-fallback-from"]
    # no-store: the answer above is in the cache for every routed call of this question
    no_store = {"Cache-Control": "no-store"}
    with httpx.stream(
        "POST", url + "/chat/stream", json={**hard, "model": "auto"}, headers=no_store
    ) as s:
        assert s.headers["x-fallback-from"] == "gpt-4o"
        assert parse_sse(s.iter_lines())[-1].event == "done"
    pinned = httpx.post(url + "/chat", json={**hard, "model": "gpt-4o"})
    assert pinned.status_code == 503 and pinned.json()["error"]["type"] == "circuit_open"
    assert [c.body["model"] for c in mock.state.chat_requests()][5:] == ["gpt-4o-mini"] * 2
    # the fallback's answer is in the routed calls' cache, named for the model that wrote it
    again = httpx.post(url + "/chat/smart", json=hard)
    assert again.headers["x-cache"] == "HIT" and again.headers["x-model"] == "gpt-4o-mini"
    assert len(mock.state.chat_requests()) == 7


def test_breaker_is_shared_by_all_workers(mock, redis_url):
    """uvicorn --workers 3 on a real Redis 8: once open, every worker refuses."""
    import redis as sync_redis

    from tests.support import ServiceProcess

    sync_redis.Redis.from_url(redis_url).flushdb()
    svc = ServiceProcess(
        {
            "OPENAI_BASE_URL": mock.base_url,
            "OPENAI_API_KEY": "test",
            "REDIS_URL": redis_url,
            "RETRY_MAX_ATTEMPTS": "1",
            "BREAKER_FALLBACK": "false",
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "warning",
            "CACHE_ENABLED": "false",
        },
        workers=3,
    )
    url = svc.url
    try:
        mock.state.fail_next(5, "500")
        # new connections each time, so the failures land on different workers
        assert [
            httpx.post(url + "/chat", json={**ASK, "model": "gpt-4o-mini"}).status_code
            for _ in range(5)
        ] == [502] * 5
        after = [httpx.post(url + "/chat", json={**ASK, "model": "gpt-4o-mini"}) for _ in range(12)]
        assert all(
            r.status_code == 503 and r.json()["error"]["type"] == "circuit_open" for r in after
        )
        assert len(mock.state.chat_requests()) == 5
    finally:
        out = svc.terminate()
    assert "Traceback" not in out, out


def test_streams_broken_midway_count_as_failures(no_retry_service, mock):
    url = no_retry_service.url
    mock.state.fail_next(5, "drop", after_chunks=3)
    for _ in range(5):
        with httpx.stream("POST", url + "/chat/stream", json=ASK) as s:
            assert parse_sse(s.iter_lines())[-1].event == "error"
    r = httpx.post(url + "/chat/stream", json=ASK)
    assert r.status_code == 503 and r.json()["error"]["type"] == "circuit_open"
    assert len(mock.state.chat_requests()) == 5


def test_a_completed_stream_resets_the_failure_count(no_retry_service, mock):
    """A stream read to its final delta is a success for the breaker, although the reader
    stops there and closes the upstream stream (it used to count as no verdict, so five
    broken streams among any number of good ones opened the breaker)."""
    url = no_retry_service.url
    fresh = {"Cache-Control": "no-cache"}  # every stream from the upstream, none from the cache
    for _ in range(5):  # five broken streams, each followed by a completed one
        mock.state.fail_next(1, "drop", after_chunks=3)
        for expected in ("error", "done"):
            with httpx.stream("POST", url + "/chat/stream", json=ASK, headers=fresh) as s:
                assert s.status_code == 200, f"expected a stream, got {s.status_code}: {s.read()}"
                assert parse_sse(s.iter_lines())[-1].event == expected


async def test_a_clean_success_costs_no_round_trip_but_a_success_after_failures_resets(
    async_redis_factory,
):
    b = registry(async_redis_factory(), FakeClock()).for_model("m")
    ticket = await b.allow()
    assert ticket.clean  # closed, no failure counted: the success changes nothing
    for _ in range(4):
        await b.record_failure()  # e.g. other workers' calls
    ticket = await b.allow()
    assert not ticket.clean  # four failures in a row so far
    await b.record_success(ticket.probe, clean=ticket.clean)
    for _ in range(4):
        await b.record_failure()
    assert b.state == "closed"  # the count was reset: 4 more do not open it


class CountingScript:
    """A registered Lua script that counts its calls (each is one Redis round trip)."""

    def __init__(self, script):
        self.script, self.calls = script, 0

    async def __call__(self, **kwargs):
        self.calls += 1
        return await self.script(**kwargs)


async def test_a_closed_clean_breaker_is_trusted_for_sync_s_without_a_round_trip(
    async_redis_factory,
):
    clock = FakeClock()
    reg = registry(async_redis_factory(), clock)
    asks = reg.allow_script = CountingScript(reg.allow_script)
    b = reg.for_model("m")
    for _ in range(20):
        ticket = await b.allow()
        assert ticket.clean and not ticket.probe
        await b.record_success(ticket.probe, clean=ticket.clean)
    assert asks.calls == 1  # the first call asked Redis; the next 19 trusted its answer
    clock.advance(0.25)
    await b.allow()
    assert asks.calls == 2  # the view is 0.25 s old: asked again


@pytest.mark.parametrize("sync_s", [10.0, 0.0])  # 10 s: the FakeClock follows real time
async def test_another_workers_open_breaker_is_seen_within_sync_s(async_redis_factory, sync_s):
    clock = FakeClock()
    redis = async_redis_factory()
    worker_a = registry(redis, clock, sync_s).for_model("m")
    worker_b = registry(redis, clock, sync_s).for_model("m")
    assert (await worker_a.allow()).clean
    for _ in range(5):
        await worker_b.record_failure()
    assert worker_b.state == "open"
    if sync_s:
        await worker_a.allow()  # still trusting its view: at most sync_s of calls slip by
        clock.advance(sync_s)
    with pytest.raises(CircuitOpen):
        await worker_a.allow()


async def test_a_closed_breaker_with_failures_counted_is_not_trusted(async_redis_factory):
    clock = FakeClock()
    reg = registry(async_redis_factory(), clock, sync_s=10.0)
    asks = reg.allow_script = CountingScript(reg.allow_script)
    b = reg.for_model("m")
    await b.record_failure()
    for _ in range(3):
        assert not (await b.allow()).clean
    assert asks.calls == 3  # each asked Redis


async def test_a_failure_recorded_during_an_ask_voids_its_answer(async_redis_factory):
    """Calls of one worker: failures recorded while another call asks Redis (which said
    closed and clean when asked) open the breaker; that answer must not start the trust."""
    clock = FakeClock()
    reg = registry(async_redis_factory(), clock, sync_s=10.0)
    b = reg.for_model("m")
    asking, answered = asyncio.Event(), asyncio.Event()
    script = reg.allow_script

    async def slow_ask(**kwargs):
        reply = await script(**kwargs)
        asking.set()
        await answered.wait()
        return reply

    reg.allow_script = slow_ask
    first = asyncio.create_task(b.allow())
    await asking.wait()
    reg.allow_script = script
    for _ in range(5):
        await b.record_failure()  # other calls failed meanwhile: open now
    answered.set()
    assert (await first).clean  # Redis said closed and clean when asked
    with pytest.raises(CircuitOpen):
        await b.allow()  # asked Redis again: that answer was not trusted


def test_breaker_sync_s_must_stay_below_the_cooldown():
    """Trusted past the cooldown, a worker would call beside the half-open probe."""
    from pydantic import ValidationError

    from tests.support import make_settings

    with pytest.raises(ValidationError, match="BREAKER_SYNC_S"):
        make_settings(breaker_sync_s=30, breaker_cooldown_s=30)
    assert make_settings(breaker_sync_s=0.5, breaker_cooldown_s=1).breaker_sync_s == 0.5


async def test_a_failure_recorded_here_ends_the_trust_at_once(async_redis_factory):
    clock = FakeClock()
    redis = async_redis_factory()
    worker_a = registry(redis, clock).for_model("m")
    worker_b = registry(redis, clock).for_model("m")
    ticket = await worker_a.allow()
    assert ticket.clean
    await worker_a.record_failure(ticket.probe)
    for _ in range(4):
        await worker_b.record_failure()
    with pytest.raises(CircuitOpen):  # no clock advance: worker A asked Redis again
        await worker_a.allow()


@pytest.mark.parametrize(
    ("cause", "status"),
    [(httpx2.ConnectTimeout("refused"), 502), (httpx2.ReadTimeout("slow"), 504), (None, 504)],
    ids=["connect", "read", "no-cause"],
)
def test_a_timeout_maps_by_what_timed_out(cause, status):
    """The aiohttp transport raises the SDK's APITimeoutError for a refused connection too,
    caused by a ConnectTimeout: nothing reached the upstream (502); a read timeout is 504."""
    from reference_service.llm.client import map_error

    request = httpx2.Request("POST", "http://upstream/v1/chat/completions")
    exc = openai.APITimeoutError(request=request)
    exc.__cause__ = cause
    assert map_error(exc).status == status
