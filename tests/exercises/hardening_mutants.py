"""Broken versions of exercise 3's reference app, to grade the student's tests by mutation.

Each factory takes create_app's arguments and returns the reference app
(solutions.hardening.app) with exactly one behaviour broken. A student's test suite must
pass on the reference and fail on every one of these (exercise 3's README lists them).
They are built by wrapping or configuring the reference, never by copying it, so they
cannot drift from it.
"""

from __future__ import annotations

import uuid

from fastapi import Request
from openai import AsyncOpenAI

from solutions.hardening.app import create_app as reference


def _rewrite_status(app, old: int, new: int):
    @app.middleware("http")
    async def rewrite(request: Request, call_next):
        response = await call_next(request)
        if response.status_code == old:
            response.status_code = new
        return response
    return app


def request_id_not_echoed(llm_base_url, **kw):
    """Every response gets a fresh X-Request-ID, whatever the client sent."""
    app = reference(llm_base_url, **kw)

    @app.middleware("http")
    async def fresh_id(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Request-ID"] = uuid.uuid4().hex
        return response
    return app


def request_id_missing_on_errors(llm_base_url, **kw):
    """X-Request-ID only on successful responses."""
    app = reference(llm_base_url, **kw)

    @app.middleware("http")
    async def drop_on_error(request: Request, call_next):
        response = await call_next(request)
        if response.status_code >= 400:
            del response.headers["X-Request-ID"]
        return response
    return app


def no_timeout(llm_base_url, **kw):
    """Waits for the LLM however long it takes."""
    kw["timeout_s"] = 3600.0
    return reference(llm_base_url, **kw)


def timeout_answers_500(llm_base_url, **kw):
    """A timeout is a 500 instead of a 504."""
    return _rewrite_status(reference(llm_base_url, **kw), 504, 500)


def breaker_never_opens(llm_base_url, **kw):
    """The breaker never opens, however many failures."""
    kw["failure_threshold"] = 10**9
    return reference(llm_base_url, **kw)


def breaker_opens_after_6_failures(llm_base_url, **kw):
    """The breaker opens after 6 consecutive failures instead of 5."""
    kw["failure_threshold"] = 6
    return reference(llm_base_url, **kw)


def breaker_counts_failures_that_are_not_consecutive(llm_base_url, **kw):
    """A success closes the breaker but does not reset the failure count."""
    app = reference(llm_base_url, **kw)
    breaker = app.state.breaker
    record = breaker.record

    def record_without_reset(success: bool) -> None:
        if success:
            breaker.opened_at = None
        else:
            record(False)
    breaker.record = record_without_reset
    return app


def breaker_never_closes(llm_base_url, **kw):
    """Once open, the breaker stays open (503) for good."""
    kw["cooldown_s"] = 10.0**9
    return reference(llm_base_url, **kw)


def breaker_closes_after_10_s(llm_base_url, **kw):
    """The breaker lets calls through again after 10 s instead of 30 s."""
    kw["cooldown_s"] = 10.0
    return reference(llm_base_url, **kw)


def breaker_open_answers_500(llm_base_url, **kw):
    """An open breaker answers 500 instead of 503."""
    return _rewrite_status(reference(llm_base_url, **kw), 503, 500)


def breaker_open_still_calls_the_llm(llm_base_url, **kw):
    """An open breaker answers 503 but calls the LLM anyway (and drops its answer)."""
    app = reference(llm_base_url, **kw)
    llm = AsyncOpenAI(base_url=llm_base_url, api_key="not-needed", max_retries=0)

    @app.middleware("http")
    async def call_anyway(request: Request, call_next):
        response = await call_next(request)
        if response.status_code == 503:
            try:
                await llm.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
            except Exception:  # noqa: BLE001 - the broken app ignores the outcome
                pass
        return response
    return app


MUTANTS = {f.__name__: f for f in (
    request_id_not_echoed, request_id_missing_on_errors, no_timeout, timeout_answers_500,
    breaker_never_opens, breaker_opens_after_6_failures,
    breaker_counts_failures_that_are_not_consecutive, breaker_never_closes,
    breaker_closes_after_10_s, breaker_open_answers_500, breaker_open_still_calls_the_llm)}
