"""The OpenAI dialect's SSE bytes (streaming.openai_events): each token's chunk is made from
a per-stream template, and must be byte for byte the chunk object encoded whole."""

from __future__ import annotations

import json

import pytest
from sse_starlette import ServerSentEvent

from reference_service.call import ChatCall, TokenEvent
from reference_service.clients import Client, Limits
from reference_service.streaming import openai_events

TEXTS = [
    "Hel",
    "",
    ' a "quoted" word, a \\ backslash',
    "two\nlines\r\nand a\rreturn",
    "é ü 漢字 🙂",
    "\x00 a null, \u2028 a line separator, \t a tab",
    "</script>",
]


def expected(text: str, *, include_usage: bool) -> bytes:
    """The token's chunk as a client reads it: the whole object, encoded as JSON."""
    obj = {
        "id": "chatcmpl-r1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
        ],
    }
    if include_usage:
        obj["usage"] = None
    return ServerSentEvent(json.dumps(obj)).encode()


@pytest.mark.parametrize("include_usage", [False, True])
async def test_each_token_chunk_is_the_whole_object_encoded(include_usage):
    async def batches():
        yield [TokenEvent(t) for t in TEXTS[:3]]
        for t in TEXTS[3:]:
            yield [TokenEvent(t)]

    call = ChatCall(messages=[], model="gpt-4o-mini", client=Client("c", "t", Limits(1, 1)))
    out = [
        piece
        async for piece in openai_events(
            batches(),
            call,
            completion_id="chatcmpl-r1",
            created=1700000000,
            model="gpt-4o-mini",
            include_usage=include_usage,
        )
    ]
    assert out[1] == b"".join(expected(t, include_usage=include_usage) for t in TEXTS[:3])
    assert out[2:] == [expected(t, include_usage=include_usage) for t in TEXTS[3:]]
    for piece in out[1:]:  # and a client reads each text back as it was
        events = [e for e in piece.decode().split("\r\n\r\n") if e]
        for e in events:
            assert e.startswith("data: ") and "\n" not in e
    texts = [
        json.loads(e[6:])["choices"][0]["delta"]["content"]
        for piece in out[1:]
        for e in piece.decode().split("\r\n\r\n")
        if e
    ]
    assert texts == TEXTS
