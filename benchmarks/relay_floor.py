"""A measuring stick, not the service: the least a relay of a chat stream can cost on the
service's own stack (uvicorn with uvloop and httptools, aiohttp to the upstream), for
`benchmarks/stream_chunks.py --gateway floor-bytes|floor-json`.

A raw ASGI app (no FastAPI, no middleware, no SSE library): POST /v1/chat/completions is
sent upstream as it came, and what comes back is relayed
- `RELAY_PARSE=0`: byte for byte, each piece read off the upstream written out as it came
  (the floor of any relay on this stack: a wake-up, a read, a write);
- `RELAY_PARSE=1`: as the service must at least do: each SSE event's JSON decoded, a new
  chunk object built from its delta and encoded (json), one write per read.

    RELAY_UPSTREAM=http://127.0.0.1:PORT/v1 uvicorn benchmarks.relay_floor:app --http httptools
"""

from __future__ import annotations

import json
import os
from typing import Any

import aiohttp

Scope = dict[str, Any]
_session: list[aiohttp.ClientSession] = []  # one, made at startup


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["path"] == "/readyz":
        await _answer(send, 200, b"ok")
    elif scope["method"] == "POST" and scope["path"] == "/v1/chat/completions":
        await _relay(receive, send)
    else:
        await _answer(send, 404, b"not found")


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _session.append(aiohttp.ClientSession())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _session[0].close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _relay(receive: Any, send: Any) -> None:
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    url = os.environ["RELAY_UPSTREAM"] + "/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer x"}
    async with _session[0].post(url, data=body, headers=headers) as upstream:
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        parse, rest = os.environ.get("RELAY_PARSE") == "1", b""
        async for piece in upstream.content.iter_any():
            if parse:
                piece, rest = _reencode(rest + piece)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": rest})


def _reencode(text: bytes) -> tuple[bytes, bytes]:
    """The complete events in `text`, each chunk decoded and a new one encoded; and what is
    left of an event not yet complete."""
    *events, rest = text.split(b"\n\n")
    out = []
    for event in events:
        if event.startswith(b"data: {"):
            chunk = json.loads(event[6:])
            choice = chunk["choices"][0] if chunk.get("choices") else {}
            new = {
                "id": chunk["id"],
                "object": "chat.completion.chunk",
                "created": chunk["created"],
                "model": chunk["model"],
                "choices": [
                    {
                        "index": 0,
                        "delta": choice.get("delta", {}),
                        "finish_reason": choice.get("finish_reason"),
                    }
                ],
            }
            event = b"data: " + json.dumps(new).encode()
        out.append(event + b"\n\n")
    return b"".join(out), rest
