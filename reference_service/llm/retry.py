"""The one retry layer (tenacity): which errors, how long to wait, when to give up.

- Retries errors marked `retryable` (upstream 408/429/5xx, timeouts, dropped connections,
  malformed answers), never a client error (400/401/403/404/413/422).
- Waits the upstream's Retry-After when it sent one, else full-jitter exponential backoff
  (random between 0 and base * 2^attempt, capped).
- Gives up after `max_attempts`, or at once when the next wait would not fit in what is
  left of the request's deadline: never sleeps past the deadline.
- Sleeps through the injectable clock, so tests never sleep.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from ..clock import Clock
from .deadline import Deadline

T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_attempts: int = 3
    base_s: float = 0.5
    max_wait_s: float = 8.0
    rng: random.Random | None = None  # seeded in tests for reproducible jitter

    def wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        cap = min(self.max_wait_s, self.base_s * 2 ** (retry_state.attempt_number - 1))
        return (self.rng or random).uniform(0, cap)


class stop_past_deadline(stop_base):
    """Stop when the wait tenacity just chose would end past the deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self.deadline.remaining()


def is_retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


async def with_retries(
    attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, deadline: Deadline, clock: Clock
) -> T:
    """Run `attempt` until it succeeds or the policy gives up; re-raise the last error.

    The first attempt runs on its own, and tenacity takes over only after a retryable
    failure (given that failure as its first outcome): almost every call succeeds at once,
    and tenacity's bookkeeping cost more CPU than the rest of the retry layer (measured)."""
    try:
        return await attempt()
    except Exception as exc:
        if not is_retryable(exc) or policy.max_attempts <= 1:
            raise
        first: BaseException | None = exc

    async def run() -> T:  # tenacity awaits only what is declared `async def`
        nonlocal first
        if first is not None:  # tenacity's attempt 1 is the one that already failed
            failed, first = first, None
            raise failed
        return await attempt()

    return await _retrying(policy, deadline, clock)(run)


def _retrying(policy: RetryPolicy, deadline: Deadline, clock: Clock) -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=policy.wait,
        stop=stop_after_attempt(policy.max_attempts) | stop_past_deadline(deadline),
        sleep=clock.sleep,
        reraise=True,
    )
