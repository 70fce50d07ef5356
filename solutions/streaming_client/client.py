"""A streaming chat client on httpx for the service's POST /chat/stream (exercise 1).

It keeps the conversation locally and sends it as `history` with each new message, prints
tokens as they arrive, and reports the time to the first token, the total time and the
token count of each answer.

The stream (the lecture's events): `token` events whose data is the token's text itself,
`done` whose data is `[DONE]`, or `error` (JSON {"type", "message", "request_id"}). Asked for
with `stream_options.include_usage`, the service also sends `usage` (JSON: prompt_tokens,
completion_tokens, total_tokens, model, ...) just before `done`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx


class ChatError(Exception):
    """The service refused the request (`status` its HTTP status) or the stream ended with
    an `error` event (`status` 200: the stream had already started)."""

    def __init__(self, message: str, *, status: int | None = None, type_: str | None = None):
        super().__init__(message)
        self.status = status
        self.type = type_


@dataclass
class TurnStats:
    ttft_ms: float  # time to the first token
    total_ms: float  # time to `done`
    tokens: int  # the answer's token count
    tokens_from: str  # "usage": the server's count; "events": the token events counted here
    request_id: str | None = None
    model: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Yield (event name, data) for each event of a Server-Sent Events stream.

    Per the SSE spec: an event is a block of lines ended by a blank line; `event:` names it
    (default "message"); each `data:` line adds a line to its data (joined with "\\n"); one
    space after the colon is dropped, any other kept; lines starting with ":" are comments;
    a block without a data line is not an event.
    """
    # BEGIN SOLUTION: collect `event:` and `data:` lines until a blank line, then yield
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield event, "\n".join(data)
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
        yield event, "\n".join(data)
    # END SOLUTION


@dataclass
class ChatSession:
    """One conversation with the service.

    `http`: an httpx.Client to send the requests with (a test passes one it controls, or a
    program reuses one connection); None makes a new client for each question.
    `include_usage`: ask the service for the `usage` event (the server's token count).
    """

    base_url: str
    model: str | None = None
    timeout_s: float = 60.0
    include_usage: bool = True
    history: list[dict] = field(default_factory=list)
    http: httpx.Client | None = None

    def ask(self, message: str, on_token: Callable[[str], None] = lambda t: None) -> TurnStats:
        """Send `message` with the history so far, stream the answer to `on_token`.

        On `done` the turn is added to the history and its stats returned. An HTTP error or
        an `error` event raises ChatError (and the history is left unchanged);
        httpx.TransportError means the service could not be reached.
        """
        # BEGIN SOLUTION: POST {"message", "history", "stream_options"} to /chat/stream; read the events
        http = self.http or httpx.Client(timeout=self.timeout_s)
        body: dict = {"message": message, "history": list(self.history)}
        if self.model:
            body["model"] = self.model
        if self.include_usage:
            body["stream_options"] = {"include_usage": True}
        start = time.perf_counter()
        first, usage, parts = None, None, []
        try:
            with http.stream("POST", self.base_url.rstrip("/") + "/chat/stream", json=body) as r:
                if r.status_code != 200:
                    r.read()  # a streamed response's body must be read before .json()
                    try:
                        err = r.json().get("error", {})
                    except ValueError:
                        err = {}
                    raise ChatError(
                        err.get("message", f"HTTP {r.status_code}"),
                        status=r.status_code,
                        type_=err.get("type"),
                    )
                for event, data in parse_sse(r.iter_lines()):
                    if event == "token":
                        if first is None:
                            first = time.perf_counter()
                        parts.append(data)
                        on_token(data)
                    elif event == "usage":
                        usage = json.loads(data)
                    elif event == "error":
                        err = json.loads(data)
                        raise ChatError(
                            err.get("message", "the stream failed"),
                            status=200,
                            type_=err.get("type"),
                        )
                    elif event == "done":
                        end = time.perf_counter()
                        self.history += [
                            {"role": "user", "content": message},
                            {"role": "assistant", "content": "".join(parts)},
                        ]
                        counted = usage is not None and "completion_tokens" in usage
                        return TurnStats(
                            ttft_ms=((first or end) - start) * 1000,
                            total_ms=(end - start) * 1000,
                            tokens=usage["completion_tokens"] if counted else len(parts),
                            tokens_from="usage" if counted else "events",
                            request_id=r.headers.get("x-request-id"),
                            model=(usage or {}).get("model") or r.headers.get("x-model"),
                        )
        finally:
            if self.http is None:
                http.close()
        raise ChatError("the stream ended without a done event")
        # END SOLUTION
