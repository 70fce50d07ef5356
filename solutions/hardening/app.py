"""The lecture's basic /chat, hardened.

- every response carries X-Request-ID (the client's, if it sent a sane one; else a new one);
- a request that takes longer than `timeout_s` gets a 504 (and the LLM call is cancelled);
- a circuit breaker: after `failure_threshold` consecutive LLM failures, requests get a 503
  with Retry-After without calling the LLM, until `cooldown_s` has passed on the clock.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid

import openai
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from openai import AsyncOpenAI
from pydantic import BaseModel


class ManualClock:
    """A clock you move by hand (tests); the app only ever asks it for the time."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()


class CircuitBreaker:
    """Closed -> (N consecutive failures) -> open for `cooldown_s` -> closed again."""

    def __init__(self, clock, failure_threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.clock = clock
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at: float | None = None

    def retry_after(self) -> int | None:
        """None if a call may go ahead; else whole seconds until it may."""
        # BEGIN SOLUTION: open and still cooling down -> seconds left; else None
        if self.opened_at is None:
            return None
        left = self.opened_at + self.cooldown_s - self.clock.monotonic()
        if left <= 0:
            return None  # cooldown over: let a call through to find out
        return max(1, math.ceil(left))
        # END SOLUTION

    def record(self, success: bool) -> None:
        # BEGIN SOLUTION: count consecutive failures; open at the threshold; success closes
        if success:
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self.opened_at = self.clock.monotonic()
        # END SOLUTION


class ChatRequest(BaseModel):
    message: str


_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def create_app(llm_base_url: str, *, clock=None, timeout_s: float = 10.0,
               failure_threshold: int = 5, cooldown_s: float = 30.0) -> FastAPI:
    llm = AsyncOpenAI(base_url=llm_base_url, api_key="not-needed", max_retries=0)
    breaker = CircuitBreaker(clock or SystemClock(), failure_threshold, cooldown_s)
    app = FastAPI()
    app.state.breaker = breaker

    @app.middleware("http")
    async def request_id(request: Request, call_next):
        # BEGIN SOLUTION: echo a sane X-Request-ID or make one; put it on every response
        rid = request.headers.get("x-request-id", "")
        if not _SANE_ID.fullmatch(rid):
            rid = uuid.uuid4().hex
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response
        # END SOLUTION

    def error(status: int, type_: str, message: str, request: Request, retry_after=None):
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return JSONResponse({"error": {"type": type_, "message": message,
                                       "request_id": getattr(request.state, "request_id", None)}},
                            status_code=status, headers=headers)

    @app.post("/chat")
    async def chat(body: ChatRequest, request: Request):
        # BEGIN SOLUTION: breaker check -> LLM call under a timeout -> record the outcome
        wait = breaker.retry_after()
        if wait is not None:
            return error(503, "circuit_open", "The LLM is failing; not calling it for now.",
                         request, retry_after=wait)
        try:
            result = await asyncio.wait_for(llm.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": body.message}]),
                timeout_s)
        except asyncio.TimeoutError:
            breaker.record(False)
            return error(504, "timeout", f"No answer within {timeout_s:g} s.", request)
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            breaker.record(False)
            return error(502, "upstream_error", f"The LLM failed: {type(exc).__name__}.", request)
        breaker.record(True)
        return {"response": result.choices[0].message.content,
                "tokens_used": result.usage.total_tokens,
                "request_id": request.state.request_id}
        # END SOLUTION

    return app
