# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.
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
        raise NotImplementedError("TODO: open and still cooling down -> seconds left; else None")

    def record(self, success: bool) -> None:
        raise NotImplementedError("TODO: count consecutive failures; open at the threshold; success closes")


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
        raise NotImplementedError("TODO: echo a sane X-Request-ID or make one; put it on every response")

    def error(status: int, type_: str, message: str, request: Request, retry_after=None):
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return JSONResponse({"error": {"type": type_, "message": message,
                                       "request_id": getattr(request.state, "request_id", None)}},
                            status_code=status, headers=headers)

    @app.post("/chat")
    async def chat(body: ChatRequest, request: Request):
        raise NotImplementedError("TODO: breaker check -> LLM call under a timeout -> record the outcome")

    return app
