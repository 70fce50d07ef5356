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
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from .call import ChatCall, DoneEvent, StreamEvent, TokenEvent, ToolCallEvent
from .errors import ServiceError, ShuttingDown, error_body, openai_error_body
from .lifecycle import Lifecycle

log = logging.getLogger(__name__)


@dataclass
class ErrorEvent:
    error: ServiceError


class _EndOfStream:
    """The producer's last item in the queue: the stream is over."""


_END = _EndOfStream()


class EventChannel:
    """A pipeline stream running in a task of its own, read through a queue."""

    def __init__(self, events: AsyncGenerator[StreamEvent, None], lifecycle: Lifecycle) -> None:
        self._queue: asyncio.Queue[StreamEvent | ErrorEvent | _EndOfStream] = asyncio.Queue()
        self._lifecycle = lifecycle
        self._task = asyncio.create_task(self._produce(events))
        lifecycle.track_stream(self._task)

    async def _produce(self, events: AsyncGenerator[StreamEvent, None]) -> None:
        put = self._queue.put_nowait
        try:
            # aclosing: when this task is cancelled between two events, the stream is closed
            # here, in this task (its cleanup charges what was generated), not later by the
            # garbage collector.
            async with aclosing(events):
                first = True
                async for event in events:
                    put(event)
                    if first:
                        # Let the SSE writer send the first token now: when the upstream's
                        # bytes are already buffered, reading the next delta never suspends,
                        # and the whole answer would be parsed before the first byte went out
                        # (measured: +7 ms to the first byte; docs/BENCHMARKS.md). After it,
                        # what piles up while the writer writes goes out in one write (`rest`).
                        first = False
                        await asyncio.sleep(0)
        except asyncio.CancelledError:
            if self._lifecycle.drain_expired:
                put(
                    ErrorEvent(
                        ShuttingDown(
                            "The service is shutting down and its drain time "
                            "is up; the answer is incomplete."
                        )
                    )
                )
        except ServiceError as exc:
            put(ErrorEvent(exc))
        except Exception:  # a bug: tell the client, keep the traceback in the log
            log.exception("stream failed")
            put(ErrorEvent(ServiceError("Internal error while streaming.")))
        finally:
            put(_END)

    async def next(self) -> StreamEvent | ErrorEvent | _EndOfStream:
        return await self._queue.get()

    async def first(self) -> StreamEvent | _EndOfStream:
        """The first event; an error before any token is raised (so it gets its status)."""
        event = await self.next()
        if isinstance(event, ErrorEvent):
            await self.aclose()
            raise event.error
        return event

    async def rest(
        self, first: StreamEvent | _EndOfStream
    ) -> AsyncIterator[list[StreamEvent | ErrorEvent]]:
        """The events from `first` on, in batches: each batch is what was ready when the
        writer came for more. A slow upstream (a real model, a token every few tens of ms)
        gives batches of one, so each token still goes out as it comes; when events pile up
        (a fast upstream, a replay from the cache) they go out in one write instead of one
        per event: the SSE events are the same, only the number of writes differs."""
        ready: list[StreamEvent | ErrorEvent | _EndOfStream] = [first]
        try:
            while True:
                while not self._queue.empty():
                    ready.append(self._queue.get_nowait())
                finished = isinstance(ready[-1], _EndOfStream)  # the producer's last item
                batch = [e for e in ready if not isinstance(e, _EndOfStream)]
                if batch:
                    yield batch
                if finished:
                    return
                ready = [await self.next()]
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


def sse_response(events: AsyncIterator[bytes], ping_s: float) -> EventSourceResponse:
    return EventSourceResponse(events, ping=ping_s)


async def chat_events(
    batches: AsyncIterator[list[StreamEvent | ErrorEvent]],
    call: ChatCall,
    *,
    include_usage: bool = False,
    session_id: str = "",
) -> AsyncIterator[bytes]:
    """The lecture's SSE events: `token` (the text itself), then `done` ([DONE]), or
    `error`. With `include_usage`, a `usage` event (JSON) goes just before `done`. One
    write per batch of events (EventChannel.rest).

    A token is sent as plain text, framed per the SSE spec: one `data:` line per line of
    the token, after "data: ". A spec parser (EventSource, the lab's clients) removes that
    one space and joins the lines with newlines, so the token arrives intact; the lecture's
    Python client, which strips each line, loses the spaces between words."""
    async for batch in batches:
        yield b"".join(_chat_event(event, call, include_usage, session_id) for event in batch)


def _chat_event(
    event: StreamEvent | ErrorEvent, call: ChatCall, include_usage: bool, session_id: str
) -> bytes:
    if isinstance(event, TokenEvent):
        return ServerSentEvent(event.text, event="token").encode()
    if isinstance(event, DoneEvent):
        r = event.result
        usage = b""
        if include_usage:
            usage = ServerSentEvent(
                json.dumps(
                    {
                        "prompt_tokens": r.prompt_tokens,
                        "completion_tokens": r.completion_tokens,
                        "total_tokens": r.total_tokens,
                        "model": r.model,
                        "finish_reason": r.finish_reason,
                        "latency_ms": round(r.latency_ms, 1),
                        "ttft_ms": round(r.ttft_ms or 0, 1),
                        "cache": r.cache,
                        "request_id": call.request_id,
                        "session_id": session_id,
                    }
                ),
                event="usage",
            ).encode()
        return usage + ServerSentEvent("[DONE]", event="done").encode()
    if isinstance(event, ErrorEvent):
        return ServerSentEvent(json.dumps(_error_event(event, call)), event="error").encode()
    return b""  # a tool call: never on /chat (no tools there)


def _error_event(event: ErrorEvent, call: ChatCall) -> dict[str, Any]:
    """The lab's body of a stream's final error (the call remembers its type for the log)."""
    call.stream_error = event.error.type
    body: dict[str, Any] = error_body(
        event.error.type, event.error.message, call.request_id, **event.error.details
    )["error"]
    return body


def _openai_error_event(event: ErrorEvent, call: ChatCall) -> dict[str, Any]:
    """OpenAI's shape of the same (what the SDK raises as an APIError mid-stream)."""
    call.stream_error = event.error.type
    e = event.error
    return openai_error_body(
        e.status,
        e.type,
        e.message,
        call.request_id,
        param=e.param,
        **({"code": e.code} if e.code else {}),
        **e.details,
    )


_SLOT = "\x00"  # a token's place in _Chunks' template
_SLOT_JSON = json.dumps(_SLOT).encode()


class _Chunks:
    """One stream's `chat.completion.chunk` events, encoded.

    A token's chunk is the same bytes every time but for the text's JSON string: made once
    per stream around a slot, then each token's text (json.dumps of a str: the C encoder's
    fast path) goes in the slot, where encoding the whole chunk object and its SSE framing
    per token cost ~0.01 ms of CPU more (docs/BENCHMARKS.md, "Relayed chunks"). The bytes
    are chunk({"content": text})'s (tests compare them). The slot is the last string in the
    chunk (only nulls follow it), hence rpartition."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool):
        self.completion_id, self.created, self.model = completion_id, created, model
        self.include_usage = include_usage
        self._head, _, self._tail = self.chunk({"content": _SLOT}).rpartition(_SLOT_JSON)

    def token(self, text: str) -> bytes:
        return self._head + json.dumps(text).encode() + self._tail

    def chunk(
        self,
        delta: dict[str, Any] | None,
        finish_reason: str | None = None,
        usage: dict[str, int] | None = None,
        choices: bool = True,
    ) -> bytes:
        obj: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ]
            if choices
            else [],
        }
        if self.include_usage:
            obj["usage"] = usage
        return ServerSentEvent(json.dumps(obj)).encode()


async def openai_events(
    batches: AsyncIterator[list[StreamEvent | ErrorEvent]],
    call: ChatCall,
    *,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """OpenAI's streaming dialect: `chat.completion.chunk` objects, then `[DONE]`; one write
    per batch of events."""
    chunks = _Chunks(completion_id, created, model, include_usage)

    def encode(event: StreamEvent | ErrorEvent) -> bytes:
        if isinstance(event, TokenEvent):
            return chunks.token(event.text)
        if isinstance(event, ToolCallEvent):
            return chunks.chunk({"tool_calls": event.tool_calls})  # relayed piece by piece
        if isinstance(event, DoneEvent):
            r = event.result
            out = chunks.chunk({}, finish_reason=r.finish_reason)  # never invented: pipeline
            if include_usage:
                out += chunks.chunk(
                    None,
                    usage={
                        "prompt_tokens": r.prompt_tokens,
                        "completion_tokens": r.completion_tokens,
                        "total_tokens": r.total_tokens,
                    },
                    choices=False,
                )
            return out + ServerSentEvent("[DONE]").encode()
        return ServerSentEvent(json.dumps(_openai_error_event(event, call))).encode()

    yield chunks.chunk({"role": "assistant", "content": ""})
    async for batch in batches:
        yield b"".join(encode(event) for event in batch)
        if isinstance(batch[-1], ErrorEvent):
            return
