"""Retries, deadlines and the circuit breaker, driven by the fake LLM's faults and a
FakeClock (backoff and cooldown are asserted, never waited for)."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from mock_llm import ThreadedServer
from reference_service import create_app
from reference_service.clock import FakeClock
from reference_service.errors import CircuitOpen
from reference_service.llm.breaker import BreakerConfig, CircuitBreaker
from tests.conftest import parse_sse

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
    from tests.conftest import make_settings
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


# -- the breaker on its own --------------------------------------------------------------

def breaker(clock):
    return CircuitBreaker("gpt-4o-mini", clock, BreakerConfig(failure_threshold=5, cooldown_s=30))


def test_breaker_opens_on_the_5th_consecutive_failure():
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(4):
        b.allow()
        b.record_failure()
    assert b.state == "closed"
    b.allow()
    b.record_failure()
    assert b.state == "open"
    with pytest.raises(CircuitOpen) as e:
        b.allow()
    assert e.value.retry_after == 30 and e.value.status == 503


def test_a_success_resets_the_count():
    b = breaker(FakeClock())
    for _ in range(4):
        b.record_failure()
    b.record_success()
    for _ in range(4):
        b.record_failure()
    assert b.state == "closed"


def test_exactly_one_probe_after_the_cooldown_then_close_or_reopen():
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(5):
        b.record_failure()
    clock.advance(29)
    with pytest.raises(CircuitOpen) as e:
        b.allow()
    assert e.value.retry_after == 1
    clock.advance(1)
    assert b.allow() is True  # the probe
    for _ in range(10):
        with pytest.raises(CircuitOpen):
            b.allow()
    b.record_failure(probe=True)  # probe failed: open again, for a full cooldown
    assert b.state == "open"
    clock.advance(30)
    assert b.allow() is True
    b.record_success(probe=True)
    assert b.state == "closed" and b.allow() is False
    assert [s for _, s in b.transitions] == ["open", "half_open", "open", "half_open", "closed"]


# -- the breaker in the service ----------------------------------------------------------

@pytest.fixture
def no_retry_service(mock):
    """A service that makes one attempt per request, so each request is one breaker call."""
    from tests.conftest import make_settings
    clock = FakeClock()
    app = create_app(make_settings(openai_base_url=mock.base_url, retry_max_attempts=1),
                     clock=clock)
    with ThreadedServer(app) as server:
        server.clock = clock
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
