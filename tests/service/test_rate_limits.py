"""Rate limits per client (GCRA in one Lua script), on the embedded fakeredis and on a real
Redis 8, including exactness across `--workers 4`."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from mock_llm import ThreadedServer, free_port
from reference_service import create_app
from reference_service.ratelimit import Limits, RateLimiter
from tests.support import ServiceProcess, make_settings, parse_sse

ASK = {"message": "What is HBM3?"}
KEYS = {"sk-alice": {"tenant": "alice", "rpm": 3}, "sk-bob": {"tenant": "bob", "rpm": 3}}


@pytest.fixture(params=["fakeredis", "redis8"])
def store(request):
    """Run each test on the embedded fakeredis and on a real Redis 8."""
    return None if request.param == "fakeredis" else request.getfixturevalue("redis_url")


def serve(mock, store, **overrides):
    settings = make_settings(openai_base_url=mock.base_url, redis_url=store, **overrides)
    return ThreadedServer(create_app(settings))


def test_n_allowed_then_429_with_retry_after_and_headers(mock, store):
    with serve(mock, store, rate_limit_rpm=3) as s:
        rs = [
            httpx.post(
                s.url + "/chat/limited",
                json=ASK,
                headers={"X-Client-ID": "t1", "Cache-Control": "no-store"},
            )
            for _ in range(4)
        ]
    assert [r.status_code for r in rs] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in rs] == ["2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit-requests"] == "3" for r in rs)
    last = rs[-1]
    assert last.json()["error"]["type"] == "rate_limited"
    assert last.headers["retry-after"].isdigit() and 1 <= int(last.headers["retry-after"]) <= 20
    assert len(mock.state.chat_requests()) == 3  # the refused one never reached the upstream


def test_token_limit(mock, store):
    with serve(mock, store, rate_limit_tpm=120) as s:  # 31 + 70 spent, 31 more do not fit
        first = httpx.post(s.url + "/chat", json=ASK, headers={"X-Client-ID": "t2"})
        second = httpx.post(s.url + "/chat", json=ASK, headers={"X-Client-ID": "t2"})
    assert first.status_code == 200  # ~31 prompt tokens checked, then ~70 completion charged
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 120
    assert second.status_code == 429 and second.json()["error"]["type"] == "rate_limited"


def test_stream_carries_the_headers_before_the_first_byte(mock, store):
    with serve(mock, store, rate_limit_rpm=1) as s:
        with httpx.stream(
            "POST", s.url + "/chat/stream", json=ASK, headers={"X-Client-ID": "t3"}
        ) as r:
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
            assert parse_sse(r.iter_lines())[-1].event == "done"
        r = httpx.get(s.url + "/chat/stream", params=ASK, headers={"X-Client-ID": "t3"})
        assert r.status_code == 429 and "retry-after" in r.headers


def test_keyed_mode_tenants_are_independent_and_headers_cannot_spoof(mock, store):
    with serve(mock, store, api_keys=KEYS) as s:

        def ask(key, client_id=None):
            headers = {"Authorization": f"Bearer {key}"}
            if client_id:
                headers["X-Client-ID"] = client_id
            return httpx.post(s.url + "/chat", json=ASK, headers=headers).status_code

        # alice spends her 3 requests under three different X-Client-IDs: still one tenant
        assert [ask("sk-alice", f"spoof-{i}") for i in range(4)] == [200, 200, 200, 429]
        assert [ask("sk-bob") for _ in range(4)] == [200, 200, 200, 429]
        r = httpx.post(s.url + "/chat", json=ASK)
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        r = httpx.post(s.url + "/chat", json=ASK, headers={"Authorization": "Bearer sk-eve"})
        assert r.status_code == 401


def test_open_mode_falls_back_to_the_ip(mock):
    with serve(mock, None, rate_limit_rpm=1) as s:
        assert httpx.post(s.url + "/chat", json=ASK).status_code == 200
        assert httpx.post(s.url + "/chat", json=ASK).status_code == 429
        assert (
            httpx.post(
                s.url + "/chat", json=ASK, headers={"X-Client-ID": "someone-else"}
            ).status_code
            == 200
        )


@pytest.mark.parametrize("fail_open", [True, False])
async def test_redis_down_fails_open_or_closed_and_logs_once(fail_open, caplog):
    from reference_service.redis_client import make_redis

    dead = make_redis(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    limiter = RateLimiter(dead, fail_open=fail_open)
    limits = Limits(rpm=1, tpm=1000)
    logger = logging.getLogger("reference_service")
    logger.addHandler(caplog.handler)
    try:
        for _ in range(3):
            if fail_open:
                assert await limiter.check("c", limits, 10) is None
            else:
                with pytest.raises(Exception) as e:
                    await limiter.check("c", limits, 10)
                assert e.value.status == 503 and e.value.retry_after == 5
    finally:
        logger.removeHandler(caplog.handler)
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not per request
    await dead.aclose()


def test_exactly_n_of_4n_succeed_across_4_workers(mock, redis_url):
    """The limit holds across processes: uvicorn --workers 4 sharing one real Redis 8."""
    n = 10
    svc = ServiceProcess(
        {
            "OPENAI_BASE_URL": mock.base_url,
            "OPENAI_API_KEY": "test",
            "REDIS_URL": redis_url,
            "RATE_LIMIT_RPM": str(n),
            "LOG_LEVEL": "warning",
            "CACHE_ENABLED": "false",
        },
        workers=4,
    )  # the cache is not the subject
    url = svc.url
    try:

        async def burst():
            limits = httpx.Limits(max_connections=4 * n)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
                return await asyncio.gather(
                    *[
                        c.post("/chat", json=ASK, headers={"X-Client-ID": "class-of-40"})
                        for _ in range(4 * n)
                    ]
                )

        results = asyncio.run(burst())
        codes = [r.status_code for r in results]
        assert codes.count(200) == n and codes.count(429) == 3 * n, codes
    finally:
        out = svc.terminate()
    assert "Traceback" not in out, out
