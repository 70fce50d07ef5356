"""Exercise 3 grader: request ids, timeout -> 504, circuit breaker, with httpx.AsyncClient,
pytest-asyncio, the fake LLM's faults and a manual clock."""

from __future__ import annotations

import importlib

import httpx
import pytest

ASK = {"message": "What is HBM3?"}


@pytest.fixture
def hardening(impl):
    return importlib.import_module(f"{impl}.hardening")


def client_for(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                             timeout=30)


async def test_request_id_is_echoed_or_made(hardening, mock):
    async with client_for(hardening.create_app(mock.base_url)) as c:
        r = await c.post("/chat", json=ASK, headers={"X-Request-ID": "trace-42"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "trace-42"
        assert r.json()["request_id"] == "trace-42"
        r = await c.post("/chat", json=ASK, headers={"X-Request-ID": "bad id <script>"})
        assert r.headers["x-request-id"] != "bad id <script>" and len(r.headers["x-request-id"]) >= 16
        r = await c.post("/chat", json={})  # even a validation error carries one
        assert r.status_code == 422 and r.headers["x-request-id"]


async def test_a_hung_llm_is_a_504_at_the_timeout(hardening, mock):
    mock.state.fail_next(1, "hang")
    async with client_for(hardening.create_app(mock.base_url, timeout_s=0.3)) as c:
        r = await c.post("/chat", json=ASK)
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout"


async def test_breaker_opens_after_5_failures_and_recovers_after_the_cooldown(hardening, mock):
    clock = hardening.ManualClock()
    app = hardening.create_app(mock.base_url, clock=clock)
    mock.state.fail_next(5, "500")
    async with client_for(app) as c:
        statuses = [(await c.post("/chat", json=ASK)).status_code for _ in range(5)]
        assert statuses == [502] * 5
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 503 and r.json()["error"]["type"] == "circuit_open"
        assert r.headers["retry-after"] == "30"
        assert len(mock.state.chat_requests()) == 5  # the LLM was not called
        clock.advance(29)
        assert (await c.post("/chat", json=ASK)).headers["retry-after"] == "1"
        clock.advance(1)
        assert (await c.post("/chat", json=ASK)).status_code == 200
        assert (await c.post("/chat", json=ASK)).status_code == 200


async def test_a_success_resets_the_count(hardening, mock):
    clock = hardening.ManualClock()
    mock.state.fail_next(4, "500")
    async with client_for(hardening.create_app(mock.base_url, clock=clock)) as c:
        for _ in range(4):
            await c.post("/chat", json=ASK)
        assert (await c.post("/chat", json=ASK)).status_code == 200
        mock.state.fail_next(4, "503")
        for _ in range(4):
            await c.post("/chat", json=ASK)
        assert (await c.post("/chat", json=ASK)).status_code == 200  # still closed


def test_breaker_unit(hardening):
    clock = hardening.ManualClock()
    b = hardening.CircuitBreaker(clock, failure_threshold=2, cooldown_s=10)
    assert b.retry_after() is None
    b.record(False)
    assert b.retry_after() is None
    b.record(False)
    assert b.retry_after() == 10
    clock.advance(9.5)
    assert b.retry_after() == 1
    clock.advance(0.5)
    assert b.retry_after() is None
    b.record(True)
    assert b.retry_after() is None
