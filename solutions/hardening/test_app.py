"""Your integration tests for the hardened /chat (exercise 3), with httpx.AsyncClient and
pytest-asyncio, as the lecture asks.

Each test gets `create_app` (the app factory under test) and `llm` (the fake LLM) from
conftest.py. Build the app with create_app(llm.base_url, ...) and talk to it over HTTP only.
Run them: `python -m pytest exercises/hardening -q`. The grader runs them against the
reference app (they must pass) and against broken apps (each must make one of them fail):
see README.md for the list.
"""

from __future__ import annotations

import time

import httpx

from .app import ManualClock

ASK = {"message": "What is HBM3?"}


def client_for(app) -> httpx.AsyncClient:
    """An httpx.AsyncClient that calls the app in-process (no server, no port)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_request_id_sent_by_the_client_is_echoed(create_app, llm):
    # BEGIN SOLUTION: send X-Request-ID: trace-42 and assert the response header is the same
    async with client_for(create_app(llm.base_url)) as c:
        r = await c.post("/chat", json=ASK, headers={"X-Request-ID": "trace-42"})
    assert r.status_code == 200, r.text
    assert r.headers.get("x-request-id") == "trace-42"
    # END SOLUTION


async def test_a_request_id_is_made_when_none_or_a_bad_one_is_sent(create_app, llm):
    # BEGIN SOLUTION: no header, then a header with spaces and '<': each gets a new 32-hex id
    async with client_for(create_app(llm.base_url)) as c:
        plain = await c.post("/chat", json=ASK)
        bad = await c.post("/chat", json=ASK, headers={"X-Request-ID": "bad id <script>"})
    ids = [plain.headers.get("x-request-id"), bad.headers.get("x-request-id")]
    for rid in ids:
        assert rid and len(rid) == 32 and all(ch in "0123456789abcdef" for ch in rid), ids
    assert ids[0] != ids[1]
    # END SOLUTION


async def test_error_responses_carry_the_request_id_too(create_app, llm):
    # BEGIN SOLUTION: a 422 (empty message) and a 502 (LLM error) both echo X-Request-ID
    async with client_for(create_app(llm.base_url)) as c:
        invalid = await c.post("/chat", json={"message": ""}, headers={"X-Request-ID": "e-1"})
        llm.state.fail_next(1, "500")
        failed = await c.post("/chat", json=ASK, headers={"X-Request-ID": "e-2"})
    assert invalid.status_code == 422 and invalid.headers.get("x-request-id") == "e-1"
    assert failed.status_code == 502 and failed.headers.get("x-request-id") == "e-2"
    assert failed.json()["error"]["request_id"] == "e-2"
    # END SOLUTION


async def test_a_hung_llm_gets_a_504_at_the_timeout(create_app, llm):
    # BEGIN SOLUTION: timeout_s=0.5 and a 3 s hang: 504 "timeout" in well under 3 s
    llm.state.fail_next(1, "hang", hang_s=3)  # bounded: a broken app must not hang the suite
    async with client_for(create_app(llm.base_url, timeout_s=0.5)) as c:
        start = time.perf_counter()
        r = await c.post("/chat", json=ASK)
        elapsed = time.perf_counter() - start
    assert r.status_code == 504, r.text
    assert r.json()["error"]["type"] == "timeout"
    assert 0.4 < elapsed < 2.0, elapsed
    # END SOLUTION


async def test_the_breaker_opens_after_5_consecutive_failures(create_app, llm):
    # BEGIN SOLUTION: 5 LLM errors (502 each), then 503 circuit_open, Retry-After 30, LLM not called
    clock = ManualClock()
    llm.state.fail_next(5, "500")
    async with client_for(create_app(llm.base_url, clock=clock)) as c:
        statuses = [(await c.post("/chat", json=ASK)).status_code for _ in range(5)]
        assert statuses == [502] * 5
        r = await c.post("/chat", json=ASK)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["type"] == "circuit_open"
    assert r.headers.get("retry-after") == "30"
    assert len(llm.state.chat_requests()) == 5  # the 6th request never reached the LLM
    # END SOLUTION


async def test_a_success_resets_the_failure_count(create_app, llm):
    # BEGIN SOLUTION: 4 failures, a success, 4 failures: still closed (the next call is a 200)
    clock = ManualClock()
    async with client_for(create_app(llm.base_url, clock=clock)) as c:
        for _ in range(2):
            llm.state.fail_next(4, "500")
            statuses = [(await c.post("/chat", json=ASK)).status_code for _ in range(4)]
            assert statuses == [502] * 4
            assert (await c.post("/chat", json=ASK)).status_code == 200
    # END SOLUTION


async def test_the_breaker_lets_calls_through_after_the_30_s_cooldown(create_app, llm):
    # BEGIN SOLUTION: open it; at +29 s still 503 (Retry-After 1); at +30 s a 200 again
    clock = ManualClock()
    llm.state.fail_next(5, "500")
    async with client_for(create_app(llm.base_url, clock=clock)) as c:
        for _ in range(5):
            await c.post("/chat", json=ASK)
        clock.advance(29)
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 503 and r.headers.get("retry-after") == "1"
        clock.advance(1)
        r = await c.post("/chat", json=ASK)
    assert r.status_code == 200, r.text
    # END SOLUTION
