"""The lecture's basic /chat, hardened (exercise 3).

- every response carries X-Request-ID (the client's, if it sent a sane one; else a new one);
- an LLM call that takes longer than `timeout_s` (10 s) is cancelled and answered 504;
- a circuit breaker: after `failure_threshold` (5) consecutive LLM failures, requests get a
  503 with Retry-After, without calling the LLM, until `cooldown_s` (30 s) has passed.

The request and answer bodies are the lecture's (ChatRequest, ChatResponse); the errors use
the lab's shape {"error": {"type", "message", "request_id"}}.
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
from pydantic import BaseModel, Field

SYSTEM_PROMPT = (
    "You are a helpful AI assistant specializing in hardware engineering. "
    "Answer questions clearly and concisely."
)


class ManualClock:
    """A clock you move by hand (tests); the breaker only ever asks it for the time."""

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
    """Closed -> (N consecutive failures) -> open for `cooldown_s` -> calls go through again.

    After the cooldown the next call is let through: a success closes the breaker (count
    back to 0), a failure opens it again at once for another `cooldown_s`.
    """

    def __init__(self, clock, failure_threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.clock = clock
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.failures = 0  # consecutive
        self.opened_at: float | None = None

    def retry_after(self) -> int | None:
        """None if a call may go ahead; else the seconds until it may, rounded up (>= 1)."""
        # BEGIN SOLUTION: open and still cooling down -> whole seconds left (ceil, at least 1); else None
        if self.opened_at is None:
            return None
        left = self.opened_at + self.cooldown_s - self.clock.monotonic()
        if left <= 0:
            return None  # cooldown over: let a call through to find out
        return max(1, math.ceil(left))
        # END SOLUTION

    def record(self, success: bool) -> None:
        """Count one LLM outcome: a success resets the count, a failure may open the breaker."""
        # BEGIN SOLUTION: count consecutive failures; open at the threshold; a success closes it
        if success:
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self.opened_at = self.clock.monotonic()
        # END SOLUTION


class ChatRequest(BaseModel):  # the lecture's
    message: str = Field(..., min_length=1, max_length=4096)
    session_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    model: str = Field(default="gpt-4o-mini")


class ChatResponse(BaseModel):  # the lecture's
    session_id: str
    answer: str
    model_used: str
    latency_ms: float
    tokens_used: int


# A sane id: a letter or digit, then letters, digits and . _ : - (128 characters at most),
# matched against the whole header value. Anything else could forge log lines or bloat them.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def create_app(
    llm_base_url: str,
    *,
    clock=None,
    timeout_s: float = 10.0,
    failure_threshold: int = 5,
    cooldown_s: float = 30.0,
) -> FastAPI:
    """The hardened /chat, calling the OpenAI-compatible LLM at `llm_base_url`."""
    llm = AsyncOpenAI(base_url=llm_base_url, api_key="not-needed", max_retries=0)
    breaker = CircuitBreaker(clock or SystemClock(), failure_threshold, cooldown_s)
    app = FastAPI(title="Hardened chat (exercise 3)")
    app.state.breaker = breaker

    @app.middleware("http")
    async def request_id(request: Request, call_next):
        # BEGIN SOLUTION: reuse a sane X-Request-ID or make one (uuid4 hex); set it on every response
        rid = request.headers.get("x-request-id", "")
        if not SANE_REQUEST_ID.fullmatch(rid):
            rid = uuid.uuid4().hex
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response
        # END SOLUTION

    def error(status: int, type_: str, message: str, request: Request, retry_after=None):
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return JSONResponse(
            {
                "error": {
                    "type": type_,
                    "message": message,
                    "request_id": getattr(request.state, "request_id", None),
                }
            },
            status_code=status,
            headers=headers,
        )

    @app.post("/chat", response_model=ChatResponse)
    async def chat(req: ChatRequest, request: Request):
        start = time.perf_counter()
        # BEGIN SOLUTION: breaker check -> LLM call under a timeout -> record the outcome
        wait = breaker.retry_after()
        if wait is not None:
            return error(
                503,
                "circuit_open",
                "The LLM is failing; not calling it for now.",
                request,
                retry_after=wait,
            )
        try:
            response = await asyncio.wait_for(
                llm.chat.completions.create(
                    model=req.model,
                    temperature=0.2,
                    messages=[
                        {"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": req.message},
                    ],
                ),
                timeout_s,
            )
        except TimeoutError:
            breaker.record(False)
            return error(504, "timeout", f"The LLM did not answer within {timeout_s:g} s.", request)
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            breaker.record(False)
            return error(502, "upstream_error", f"The LLM failed: {type(exc).__name__}.", request)
        breaker.record(True)
        # END SOLUTION
        return ChatResponse(
            session_id=req.session_id,
            answer=response.choices[0].message.content or "",
            model_used=req.model,
            latency_ms=round((time.perf_counter() - start) * 1000, 1),
            tokens_used=response.usage.total_tokens,
        )

    return app
