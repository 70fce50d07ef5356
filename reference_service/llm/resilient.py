"""The upstream behind retries, a deadline and a circuit breaker per model.

Each attempt: ask the model's breaker for a slot (503 at once if open), call the upstream
within what is left of the deadline (504 when it runs out, the call cancelled), tell the
breaker how it went. Streams are retried only until their first token: once a byte has
gone to the client, a failure is an `error` event, never a silent second answer. A
stream's verdict for the breaker is given when it ends: completed, or broken midway.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable, TypeVar

from ..clock import Clock
from ..errors import ServiceError, UpstreamError, UpstreamTimeout
from .breaker import BreakerRegistry
from .client import Completion, Delta, UpstreamClient
from .deadline import Deadline
from .retry import RetryPolicy, with_retries

T = TypeVar("T")


class ResilientUpstream:
    def __init__(self, upstream: UpstreamClient, clock: Clock, retry: RetryPolicy,
                 breakers: BreakerRegistry) -> None:
        self.upstream = upstream
        self.clock = clock
        self.retry = retry
        self.breakers = breakers

    async def _attempt(self, model: str, deadline: Deadline, call: Callable[[], Awaitable[T]],
                       *, verdict_later: bool = False):
        """One call through the model's breaker. With `verdict_later` (streams) a success
        is not recorded yet: the result comes back as (result, breaker, probe)."""
        breaker = self.breakers.for_model(model)
        probe = await breaker.allow()
        remaining = deadline.remaining()
        verdict = None
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                result = await call()
            if verdict_later:
                verdict = "later"
                return result, breaker, probe
            verdict = True
            return result
        except TimeoutError as exc:
            verdict = False
            raise UpstreamTimeout(f"No answer within the request's {deadline.seconds:g} s "
                                  "deadline.", retryable=False) from exc
        except ServiceError as exc:
            if isinstance(exc, UpstreamError) and exc.retryable:
                verdict = False
            raise
        finally:
            if verdict == "later":
                pass
            elif verdict is True:
                await breaker.record_success(probe)
            elif verdict is False:
                await breaker.record_failure(probe)
            else:  # a client error or a cancelled call says nothing about the upstream
                await breaker.release(probe)

    async def complete(self, messages: list[dict], model: str, params: dict,
                       deadline: Deadline) -> Completion:
        return await with_retries(
            lambda: self._attempt(model, deadline,
                                  lambda: self.upstream.complete(messages, model, params)),
            self.retry, deadline, self.clock)

    async def moderate(self, texts: list[str], model: str,
                       deadline: Deadline) -> list[list[str]]:
        """Moderation under the same rules as chat: retries, deadline, its own breaker."""
        return await with_retries(
            lambda: self._attempt(model, deadline,
                                  lambda: self.upstream.moderate(texts, model)),
            self.retry, deadline, self.clock)

    async def open_stream(self, messages: list[dict], model: str, params: dict,
                          deadline: Deadline) -> tuple[Delta, AsyncIterator[Delta]]:
        """The first delta and the rest of the stream; retried until the first delta."""

        async def first_delta() -> tuple[Delta, AsyncIterator[Delta]]:
            deltas = self.upstream.stream(messages, model, params).__aiter__()
            try:
                return await anext(deltas), deltas
            except BaseException:
                await deltas.aclose()
                raise

        (first, deltas), breaker, probe = await with_retries(
            lambda: self._attempt(model, deadline, first_delta, verdict_later=True),
            self.retry, deadline, self.clock)
        return first, self._rest(deltas, breaker, probe)

    @staticmethod
    async def _rest(deltas: AsyncIterator[Delta], breaker, probe: bool) -> AsyncIterator[Delta]:
        """The rest of a stream; tells the breaker how the stream ended."""
        verdict = None
        try:
            async for delta in deltas:
                yield delta
            verdict = True
        except UpstreamError as exc:
            verdict = False if exc.retryable else None
            raise
        finally:
            await deltas.aclose()
            if verdict is True:
                await breaker.record_success(probe)
            elif verdict is False:
                await breaker.record_failure(probe)
            else:  # the client went away, or a non-verdict error
                await breaker.release(probe)
