# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.
"""A streaming chat client on httpx for POST /chat/stream.

It keeps the conversation locally and sends it as `history` with each new message, prints
tokens as they arrive, and reports time to first token, total time and token count.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import httpx


class ChatError(Exception):
    """The service refused the request or the stream ended with an `error` event."""

    def __init__(self, message: str, *, status: int | None = None, type_: str | None = None):
        super().__init__(message)
        self.status = status
        self.type = type_


@dataclass
class TurnStats:
    ttft_ms: float  # time to the first token
    total_ms: float
    tokens: int
    request_id: str | None = None
    model: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, dict]]:
    """Yield (event name, decoded JSON data) for each event of an SSE stream.

    An event is a block of `field: value` lines ended by a blank line; `event:` names it
    (default "message"), `data:` lines carry its data, lines starting with ":" are comments.
    """
    raise NotImplementedError("TODO: collect `event:` and `data:` lines until a blank line, then yield")


@dataclass
class ChatSession:
    """One conversation with the service."""

    base_url: str
    model: str | None = None
    timeout_s: float = 60.0
    history: list[dict] = field(default_factory=list)
    http: httpx.Client | None = None

    def ask(self, message: str, on_token: Callable[[str], None] = lambda t: None) -> TurnStats:
        """Send `message` with the history so far, stream the answer to `on_token`.

        On `done` the turn is added to the history and its stats returned. An HTTP error or
        an `error` event raises ChatError (and the history is left unchanged);
        httpx.TransportError means the service could not be reached.
        """
        raise NotImplementedError("TODO: POST {'message', 'history'} to /chat/stream and read the events")
