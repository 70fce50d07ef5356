"""Exercise 3 grader. Your app: request ids, timeout -> 504, circuit breaker, driven with
httpx.AsyncClient and pytest-asyncio, the fake LLM's faults and a manual clock. Your tests
(hardening/test_app.py): graded by mutation, they must pass on the reference app and fail on
each broken app of tests/exercises/hardening_mutants.py."""

from __future__ import annotations

import importlib
import inspect
import time
from pathlib import Path

import httpx
import pytest

from tests.exercises.hardening_mutants import MUTANTS
from tests.exercises.mutation import REFERENCE, run_suite

ASK = {"message": "What is HBM3?"}


@pytest.fixture(scope="module")
def hardening(impl):
    return importlib.import_module(f"{impl}.hardening")


def client_for(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                             timeout=30)


def seen(r: httpx.Response) -> str:
    return f"{r.status_code} {r.text[:160]}"


async def test_a_sane_request_id_is_echoed(hardening, mock):
    async with client_for(hardening.create_app(mock.base_url)) as c:
        for rid in ["trace-42", "A.b_c:d-9", "x" * 128]:
            r = await c.post("/chat", json=ASK, headers={"X-Request-ID": rid})
            assert r.headers.get("x-request-id") == rid, (
                f"X-Request-ID {rid[:20]!r} should be echoed; the response had "
                f"{r.headers.get('x-request-id')!r} ({r.status_code})")


async def test_a_missing_or_bad_request_id_is_replaced_by_a_new_one(hardening, mock):
    async with client_for(hardening.create_app(mock.base_url)) as c:
        made = []
        for sent in [None, "bad id <script>", "x" * 129, "-starts-with-a-dash", "a/b"]:
            headers = {"X-Request-ID": sent} if sent is not None else {}
            r = await c.post("/chat", json=ASK, headers=headers)
            rid = r.headers.get("x-request-id")
            assert rid and rid != sent and len(rid) == 32 and set(rid) <= set("0123456789abcdef"), (
                f"sent X-Request-ID {sent!r}: expected a new uuid4().hex (32 hex digits), "
                f"got {rid!r}")
            made.append(rid)
        assert len(set(made)) == len(made), f"each request needs its own id; got {made}"


async def test_every_response_carries_the_request_id(hardening, mock):
    async with client_for(hardening.create_app(mock.base_url)) as c:
        r = await c.post("/chat", json={"message": ""}, headers={"X-Request-ID": "v-1"})
        assert r.status_code == 422 and r.headers.get("x-request-id") == "v-1", (
            f"an empty message: expected 422 with X-Request-ID v-1, got {seen(r)}, "
            f"X-Request-ID {r.headers.get('x-request-id')!r}")
        r = await c.get("/nowhere", headers={"X-Request-ID": "v-2"})
        assert r.headers.get("x-request-id") == "v-2", (
            f"a 404 should carry X-Request-ID v-2 too; got {r.headers.get('x-request-id')!r}")


async def test_a_success_answers_the_lectures_chat_response(hardening, mock):
    async with client_for(hardening.create_app(mock.base_url)) as c:
        r = await c.post("/chat", json={**ASK, "session_id": "s-1"})
    assert r.status_code == 200, f"expected 200, got {seen(r)}"
    body = r.json()
    want = {"session_id", "answer", "model_used", "latency_ms", "tokens_used"}
    assert want <= set(body), f"expected the fields {sorted(want)}, got {sorted(body)}"
    assert body["session_id"] == "s-1" and body["model_used"] == "gpt-4o-mini", (
        f"session_id is echoed and model_used is the requested model; got {body}")
    assert "HBM3" in body["answer"] and body["tokens_used"] > 0, (
        f"the answer is the LLM's and tokens_used its usage; got {body}")


async def test_a_hung_llm_is_a_504_at_the_timeout(hardening, mock):
    mock.state.fail_next(1, "hang", hang_s=5)
    async with client_for(hardening.create_app(mock.base_url, timeout_s=0.3)) as c:
        start = time.perf_counter()
        r = await c.post("/chat", json=ASK, headers={"X-Request-ID": "t-1"})
        elapsed = time.perf_counter() - start
    assert r.status_code == 504, f"an LLM that hangs past timeout_s: expected 504, got {seen(r)}"
    error = r.json().get("error", {})
    assert error.get("type") == "timeout" and error.get("request_id") == "t-1", (
        f'expected {{"error": {{"type": "timeout", "message": ..., "request_id": "t-1"}}}}, '
        f"got {r.json()}")
    assert elapsed < 2, f"the 504 should come at the timeout (0.3 s), it took {elapsed:.1f} s"
    default = inspect.signature(hardening.create_app).parameters["timeout_s"].default
    assert default == 10, f"create_app's timeout_s defaults to the lecture's 10 s; got {default}"


async def test_the_breaker_opens_after_5_failures_and_recovers_after_the_cooldown(hardening,
                                                                                  mock):
    clock = hardening.ManualClock()
    mock.state.fail_next(5, "500")
    async with client_for(hardening.create_app(mock.base_url, clock=clock)) as c:
        statuses = [(await c.post("/chat", json=ASK)).status_code for _ in range(5)]
        assert statuses == [502] * 5, f"5 LLM errors: expected five 502s, got {statuses}"
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 503, f"after 5 failures: expected 503, got {seen(r)}"
        assert r.json().get("error", {}).get("type") == "circuit_open", (
            f'an open breaker\'s 503 has error type "circuit_open"; got {r.json()}')
        assert r.headers.get("retry-after") == "30", (
            f"Retry-After right after opening: expected '30', got {r.headers.get('retry-after')!r}")
        calls = len(mock.state.chat_requests())
        assert calls == 5, f"an open breaker must not call the LLM: it was called {calls} times"
        clock.advance(29.5)
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 503 and r.headers.get("retry-after") == "1", (
            f"0.5 s of cooldown left: expected 503 with Retry-After '1' (rounded up), got "
            f"{r.status_code} with {r.headers.get('retry-after')!r}")
        clock.advance(0.5)
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 200, f"after the 30 s cooldown: expected 200, got {seen(r)}"
        assert (await c.post("/chat", json=ASK)).status_code == 200, "a success closes it"


async def test_a_failure_after_the_cooldown_opens_it_again(hardening, mock):
    clock = hardening.ManualClock()
    mock.state.fail_next(6, "500")
    async with client_for(hardening.create_app(mock.base_url, clock=clock)) as c:
        for _ in range(5):
            await c.post("/chat", json=ASK)
        clock.advance(30)
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 502, f"the call after the cooldown reaches the LLM (it fails: " \
                                     f"502); got {seen(r)}"
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 503 and r.headers.get("retry-after") == "30", (
            f"a failure after the cooldown opens the breaker again for 30 s; got "
            f"{r.status_code} with Retry-After {r.headers.get('retry-after')!r}")


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
        r = await c.post("/chat", json=ASK)
        assert r.status_code == 200, (
            f"4 failures, a success, 4 failures: the breaker should still be closed; "
            f"got {seen(r)}")


async def test_a_timeout_counts_as_a_failure(hardening, mock):
    clock = hardening.ManualClock()
    mock.state.fail_next(5, "hang", hang_s=2)
    async with client_for(hardening.create_app(mock.base_url, clock=clock, timeout_s=0.05)) as c:
        statuses = [(await c.post("/chat", json=ASK)).status_code for _ in range(5)]
        r = await c.post("/chat", json=ASK)
    assert statuses == [504] * 5 and r.status_code == 503, (
        f"5 timeouts then a request: expected five 504s then 503, got {statuses + [r.status_code]}")


def test_breaker_unit(hardening):
    clock = hardening.ManualClock()
    b = hardening.CircuitBreaker(clock, failure_threshold=2, cooldown_s=10)
    assert b.retry_after() is None, "a new breaker is closed: retry_after() should be None"
    b.record(False)
    assert b.retry_after() is None, "1 failure of 2: still closed (None)"
    b.record(False)
    assert b.retry_after() == 10, f"just opened (cooldown 10 s): expected 10, got {b.retry_after()}"
    clock.advance(9.5)
    assert b.retry_after() == 1, f"0.5 s left: expected 1 (rounded up), got {b.retry_after()}"
    clock.advance(0.5)
    assert b.retry_after() is None, f"cooldown over: expected None, got {b.retry_after()}"
    b.record(True)
    assert b.retry_after() is None and b.failures == 0, "a success closes it and resets the count"


# -- your tests, graded by mutation -------------------------------------------------------

@pytest.fixture(scope="module")
def your_suite(hardening, tmp_path_factory):
    """Your test_app.py run once against the reference app and every broken app."""
    package = Path(hardening.__file__).parent
    root = package.parents[1]
    return run_suite(package / "test_app.py", root, tmp_path_factory.mktemp("mutation") / "r.xml")


def _suite_problem(run) -> str | None:
    if run.problem:
        return f"your tests could not run: {run.problem}"
    failing = run.failing_on_reference()
    if failing:
        name, why = next(iter(failing.items()))
        return f"{len(failing)} of your tests fail on the reference app, e.g. {name}: {why}"
    return None


@pytest.mark.timeout(600)  # the first test to use your_suite runs it: 12 apps, a subprocess
def test_your_tests_pass_on_the_reference_app(your_suite):
    problem = _suite_problem(your_suite)
    assert problem is None, problem
    assert your_suite.outcomes.get(REFERENCE), "no test of yours ran on the reference app"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_your_tests_catch_a_broken_app(your_suite, mutant):
    problem = _suite_problem(your_suite)
    if problem:
        pytest.fail(f"first make your tests pass: {problem}", pytrace=False)
    what = (MUTANTS[mutant].__doc__ or mutant.replace("_", " ")).strip()
    if not your_suite.catchers(mutant):
        pytest.fail(f"no test of yours fails on the broken app '{mutant}': {what}",
                    pytrace=False)
