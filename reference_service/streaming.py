"""Running a pipeline stream for an HTTP client, and encoding it as SSE.

The pipeline's stream runs in its own task (the producer) that feeds a queue the SSE
response reads. That task is what the graceful drain cancels when its time is up (the
producer then queues a final `error` event), and what a client disconnect cancels (the
upstream request is closed with it). Failures before the first token become a normal
JSON error response with its status; failures after it become an `error` event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from .call import ChatCall, DoneEvent, StreamEvent, TokenEvent, ToolCallEvent
from .errors import ServiceError, ShuttingDown, error_body, openai_error_body
from .lifecycle import Lifecycle

log = logging.getLogger(__name__)


@dataclass
class ErrorEvent:
    error: ServiceError


_END = object()


class EventChannel:
    """A pipeline stream running in a task of its own, read through a queue."""

    def __init__(self, events: AsyncIterator[StreamEvent], lifecycle: Lifecycle) -> None:
        self._queue: asyncio.Queue = asyncio.Queue()
        self._lifecycle = lifecycle
        self._task = asyncio.create_task(self._produce(events))
        lifecycle.track_stream(self._task)

    async def _produce(self, events: AsyncIterator[StreamEvent]) -> None:
        put = self._queue.put_nowait
        try:
            # aclosing: when this task is cancelled between two events, the stream is closed
            # here, in this task (its cleanup charges what was generated), not later by the
            # garbage collector.
            async with aclosing(events):
                async for event in events:
                    put(event)
                    # Let the SSE writer run: when the upstream's bytes are already buffered,
                    # reading the next delta never suspends, and without this the whole
                    # answer would be parsed before the first token went out (measured: +7 ms
                    # to the first byte; docs/BENCHMARKS.md).
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            if self._lifecycle.drain_expired:
                put(ErrorEvent(ShuttingDown("The service is shutting down and its drain time "
                                            "is up; the answer is incomplete.")))
        except ServiceError as exc:
            put(ErrorEvent(exc))
        except Exception:  # a bug: tell the client, keep the traceback in the log
            log.exception("stream failed")
            put(ErrorEvent(ServiceError("Internal error while streaming.")))
        finally:
            put(_END)

    async def next(self) -> StreamEvent | ErrorEvent | object:
        return await self._queue.get()

    async def first(self) -> StreamEvent:
        """The first event; an error before any token is raised (so it gets its status)."""
        event = await self.next()
        if isinstance(event, ErrorEvent):
            await self.aclose()
            raise event.error
        return event

    async def rest(self, first: StreamEvent) -> AsyncIterator[StreamEvent | ErrorEvent]:
        event = first
        try:
            while event is not _END:
                yield event
                event = await self.next()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()
        # Shielded: the caller may be cancelled again and again while it waits (sse-starlette
        # runs it in an anyio cancel scope, which re-cancels on every await), and gather
        # would pass each cancel on to the producer, cutting short its cleanup, where what
        # the stream generated is charged.
        await asyncio.shield(asyncio.gather(self._task, return_exceptions=True))


def sse_response(events: AsyncIterator[ServerSentEvent], ping_s: float) -> EventSourceResponse:
    return EventSourceResponse(events, ping=ping_s)


async def chat_events(events: AsyncIterator[StreamEvent | ErrorEvent], call: ChatCall, *,
                      include_usage: bool = False,
                      session_id: str = "") -> AsyncIterator[ServerSentEvent]:
    """The lecture's SSE events: `token` (the text itself), then `done` ([DONE]), or
    `error`. With `include_usage`, a `usage` event (JSON) goes just before `done`.

    A token is sent as plain text, framed per the SSE spec: one `data:` line per line of
    the token, after "data: ". A spec parser (EventSource, the lab's clients) removes that
    one space and joins the lines with newlines, so the token arrives intact; the lecture's
    Python client, which strips each line, loses the spaces between words."""
    async for event in events:
        if isinstance(event, TokenEvent):
            yield ServerSentEvent(event.text, event="token")
        elif isinstance(event, DoneEvent):
            r = event.result
            if include_usage:
                yield ServerSentEvent(json.dumps({
                    "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                    "total_tokens": r.total_tokens, "model": r.model,
                    "finish_reason": r.finish_reason, "latency_ms": round(r.latency_ms, 1),
                    "ttft_ms": round(r.ttft_ms or 0, 1), "cache": r.cache,
                    "request_id": call.request_id, "session_id": session_id}), event="usage")
            yield ServerSentEvent("[DONE]", event="done")
        elif isinstance(event, ErrorEvent):
            yield ServerSentEvent(json.dumps(_error_event(event, call)), event="error")


def _error_event(event: ErrorEvent, call: ChatCall) -> dict[str, Any]:
    """The lab's body of a stream's final error (the call remembers its type for the log)."""
    call.stream_error = event.error.type
    body: dict[str, Any] = error_body(event.error.type, event.error.message, call.request_id,
                                      **event.error.details)["error"]
    return body


def _openai_error_event(event: ErrorEvent, call: ChatCall) -> dict[str, Any]:
    """OpenAI's shape of the same (what the SDK raises as an APIError mid-stream)."""
    call.stream_error = event.error.type
    e = event.error
    return openai_error_body(e.status, e.type, e.message, call.request_id, param=e.param,
                             **({"code": e.code} if e.code else {}), **e.details)


async def openai_events(events: AsyncIterator[StreamEvent | ErrorEvent], call: ChatCall, *,
                        completion_id: str, created: int, model: str,
                        include_usage: bool) -> AsyncIterator[ServerSentEvent]:
    """OpenAI's streaming dialect: `chat.completion.chunk` objects, then `[DONE]`."""

    def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None,
              usage: dict[str, int] | None = None, choices: bool = True) -> ServerSentEvent:
        obj: dict[str, Any] = {
            "id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}] if choices else []}
        if include_usage:
            obj["usage"] = usage
        return ServerSentEvent(json.dumps(obj))

    yield chunk({"role": "assistant", "content": ""})
    async for event in events:
        if isinstance(event, TokenEvent):
            yield chunk({"content": event.text})
        elif isinstance(event, ToolCallEvent):
            yield chunk({"tool_calls": event.tool_calls})  # relayed piece by piece
        elif isinstance(event, DoneEvent):
            r = event.result
            yield chunk({}, finish_reason=r.finish_reason)  # never invented: see pipeline
            if include_usage:
                yield chunk(None, usage={"prompt_tokens": r.prompt_tokens,
                                         "completion_tokens": r.completion_tokens,
                                         "total_tokens": r.total_tokens}, choices=False)
        elif isinstance(event, ErrorEvent):
            yield ServerSentEvent(json.dumps(_openai_error_event(event, call)))
            return
    yield ServerSentEvent("[DONE]")
