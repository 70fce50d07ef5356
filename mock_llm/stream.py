"""Server-sent events of a streamed answer, paced by its timing, and the injected ways
for a response to break: a cut connection, a chunk that is not JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from .errors import DropConnection
from .faults import Fault, RecordedRequest
from .profiles import Frame
from .timing import Timing


def sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


async def stream_events(
    frames: list[Frame],
    timing: Timing,
    fault: Fault | None,
    rec: RecordedRequest,
    completion_id: str,
) -> AsyncIterator[bytes]:
    """The frames as `data:` events then `data: [DONE]`; each token's frame when it is due.

    A drop or malformed fault strikes after `fault.after_chunks` frames.
    """
    breaks = (
        fault if fault is not None and fault.kind in ("drop", "malformed", "truncate") else None
    )
    try:
        await timing.until(timing.ttft)
        for sent, frame in enumerate(frames):
            if breaks is not None and sent >= breaks.after_chunks:
                rec.outcome = "fault"
                if breaks.kind == "truncate":
                    return  # a clean end of the body: no finish reason, no [DONE]
                if breaks.kind == "malformed":
                    yield f'data: {{"id": "{completion_id}", "choices": [{{"delta": \n\n'.encode()
                    return
                raise DropConnection("mock_llm: injected connection drop")
            if frame.token is not None:
                await timing.until(timing.token_due(frame.token))
            yield sse(frame.payload)
        yield b"data: [DONE]\n\n"
        rec.outcome = "completed"
    except asyncio.CancelledError:
        rec.outcome = "client_disconnected"
        raise


async def dropped_body() -> AsyncIterator[bytes]:
    """The start of a JSON body, then a cut connection."""
    yield b'{"id": "chatcmpl-dropped", "object": "chat.co'
    raise DropConnection("mock_llm: injected connection drop")
