"""The upstream behind retries, a deadline and a circuit breaker per model.

Each attempt: ask the model's breaker for a slot (503 at once if open), call the upstream
within what is left of the deadline (504 when it runs out, the call cancelled), tell the
breaker how it went. Streams are retried only until their first token: once a byte has
gone to the client, a failure is an `error` event, never a silent second answer. A
stream's verdict for the breaker is given when it ends: completed, or broken midway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from ..clock import Clock
from ..errors import UpstreamError, UpstreamTimeout
from .breaker import BreakerRegistry, CircuitBreaker, Ticket
from .client import Completion, Delta, UpstreamClient
from .deadline import Deadline
from .retry import RetryPolicy, with_retries

Message = dict[str, Any]

T = TypeVar("T")


class Verdict(Enum):
    """What one upstream call says about the upstream, for its model's breaker."""

    SUCCESS = "success"
    FAILURE = "failure"  # a retryable upstream error or a timeout: it counts
    NONE = "none"  # a client error, or the caller went away: it frees a probe, nothing more

    @staticmethod
    def of(exc: BaseException) -> Verdict:
        if isinstance(exc, TimeoutError):
            return Verdict.FAILURE
        if isinstance(exc, UpstreamError) and exc.retryable:
            return Verdict.FAILURE
        return Verdict.NONE


@dataclass
class Slot:
    """A model's breaker and this call's ticket: the verdict goes there."""

    breaker: CircuitBreaker
    ticket: Ticket

    async def record(self, verdict: Verdict) -> None:
        probe = self.ticket.probe
        if verdict is Verdict.SUCCESS:
            await self.breaker.record_success(probe, clean=self.ticket.clean)
        elif verdict is Verdict.FAILURE:
            await self.breaker.record_failure(probe)
        else:
            await self.breaker.release(probe)


class ResilientUpstream:
    def __init__(
        self, upstream: UpstreamClient, clock: Clock, retry: RetryPolicy, breakers: BreakerRegistry
    ) -> None:
        self.upstream = upstream
        self.clock = clock
        self.retry = retry
        self.breakers = breakers

    async def _attempt(self, model: str, deadline: Deadline, call: Callable[[], Awaitable[T]]) -> T:
        """One call through the model's breaker, its verdict recorded."""
        slot, result = await self._attempt_open(model, deadline, call)
        await slot.record(Verdict.SUCCESS)
        return result

    async def _attempt_open(
        self, model: str, deadline: Deadline, call: Callable[[], Awaitable[T]]
    ) -> tuple[Slot, T]:
        """One call through the model's breaker; a success is not recorded yet (a stream is
        judged when it ends): the caller records it on the slot."""
        breaker = self.breakers.for_model(model)
        slot = Slot(breaker, await breaker.allow())
        try:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                return slot, await call()
        except TimeoutError as exc:
            await slot.record(Verdict.FAILURE)
            raise UpstreamTimeout(
                f"No answer within the request's {deadline.seconds:g} s deadline.", retryable=False
            ) from exc
        except BaseException as exc:  # cancelled included: the slot must not stay taken
            await slot.record(Verdict.of(exc))
            raise

    async def complete(
        self,
        messages: list[Message],
        model: str,
        params: dict[str, Any],
        deadline: Deadline,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        return await with_retries(
            lambda: self._attempt(
                model, deadline, lambda: self.upstream.complete(messages, model, params, extra)
            ),
            self.retry,
            deadline,
            self.clock,
        )

    async def moderate(self, texts: list[str], model: str, deadline: Deadline) -> list[list[str]]:
        """Moderation under the same rules as chat: retries, deadline, its own breaker."""
        return await with_retries(
            lambda: self._attempt(model, deadline, lambda: self.upstream.moderate(texts, model)),
            self.retry,
            deadline,
            self.clock,
        )

    async def open_stream(
        self,
        messages: list[Message],
        model: str,
        params: dict[str, Any],
        deadline: Deadline,
        extra: dict[str, Any] | None = None,
    ) -> tuple[Delta, AsyncGenerator[Delta, None]]:
        """The first delta and the rest of the stream; retried until the first delta."""

        async def first_delta() -> tuple[Delta, AsyncGenerator[Delta, None]]:
            deltas = self.upstream.stream(messages, model, params, extra)
            try:
                return await anext(deltas), deltas
            except BaseException:
                await deltas.aclose()
                raise

        slot, (first, deltas) = await with_retries(
            lambda: self._attempt_open(model, deadline, first_delta),
            self.retry,
            deadline,
            self.clock,
        )
        return first, self._rest(deltas, slot)

    @staticmethod
    async def _rest(deltas: AsyncGenerator[Delta, None], slot: Slot) -> AsyncGenerator[Delta, None]:
        """The rest of a stream; tells the breaker how the stream ended."""
        verdict = Verdict.NONE  # the client went away, unless it ends otherwise
        try:
            async for delta in deltas:
                if delta.finish_reason is not None:  # the final delta: the stream completed
                    verdict = Verdict.SUCCESS  # (the reader may stop here and close us)
                yield delta
            verdict = Verdict.SUCCESS
        except UpstreamError as exc:
            verdict = Verdict.of(exc)
            raise
        finally:
            await deltas.aclose()
            await slot.record(verdict)
