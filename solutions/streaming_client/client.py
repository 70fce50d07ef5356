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
    # BEGIN SOLUTION: collect `event:` and `data:` lines until a blank line, then yield
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, json.loads("\n".join(data))
    # END SOLUTION


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
        # BEGIN SOLUTION: POST {"message", "history"} to /chat/stream and read the events
        http = self.http or httpx.Client(timeout=self.timeout_s)
        body = {"message": message, "history": list(self.history)}
        if self.model:
            body["model"] = self.model
        start = time.perf_counter()
        first = None
        parts: list[str] = []
        try:
            with http.stream("POST", self.base_url.rstrip("/") + "/chat/stream", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    err = r.json().get("error", {}) if r.headers.get(
                        "content-type", "").startswith("application/json") else {}
                    raise ChatError(err.get("message", f"HTTP {r.status_code}"),
                                    status=r.status_code, type_=err.get("type"))
                for event, data in parse_sse(r.iter_lines()):
                    if event == "token":
                        if first is None:
                            first = time.perf_counter()
                        parts.append(data["token"])
                        on_token(data["token"])
                    elif event == "error":
                        raise ChatError(data.get("message", "stream failed"), status=200,
                                        type_=data.get("type"))
                    elif event == "done":
                        end = time.perf_counter()
                        self.history += [{"role": "user", "content": message},
                                         {"role": "assistant", "content": "".join(parts)}]
                        return TurnStats(ttft_ms=((first or end) - start) * 1000,
                                         total_ms=(end - start) * 1000, tokens=len(parts),
                                         request_id=data.get("request_id"),
                                         model=data.get("model"))
        finally:
            if self.http is None:
                http.close()
        raise ChatError("the stream ended without a done event")
        # END SOLUTION
