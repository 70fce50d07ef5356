"""The upstream stream read off the SDK's raw response (llm/client.py `_stream_chunks`):
SSE framing however the bytes arrive, `[DONE]`, and errors in the stream; and a whole
answer of the wrong shape (`UpstreamClient.complete`)."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest

from reference_service.errors import UpstreamError
from reference_service.llm import client as llm_client
from reference_service.llm.client import UpstreamClient, _stream_chunks
from tests.support import Replies


class Body:
    """What `_stream_chunks` reads of a response: its bytes, in the pieces given."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces, self.read = pieces, 0

    async def aiter_bytes(self):
        for p in self.pieces:
            self.read += 1
            yield p


async def chunks(*pieces: bytes) -> list[dict]:
    return [c async for c in _stream_chunks(Body(*pieces))]  # type: ignore[arg-type]


def event(obj: dict, end: bytes = b"\n\n") -> bytes:
    return b"data: " + json.dumps(obj).encode() + end


A, B = {"choices": [{"delta": {"content": "Hel"}}]}, {"choices": [{"delta": {"content": "lo"}}]}


async def test_events_split_anywhere_are_read_whole():
    wire = event(A) + event(B) + b"data: [DONE]\n\n"
    for cut in range(1, len(wire)):
        assert await chunks(wire[:cut], wire[cut:]) == [A, B], cut
    assert await chunks(*[bytes([b]) for b in wire]) == [A, B]  # a byte at a time


async def test_crlf_lines_other_fields_and_multi_line_data():
    wire = (
        b"event: message\r\nid: 1\r\n"
        + event(A, b"\r\n\r\n")
        + b": a comment\n"
        + b'data: {"choices": [{"delta":\ndata:  {"content": "lo"}}]}\n\n'
        + b"data:[DONE]\n\n"
    )
    assert await chunks(wire) == [A, B]


MULTI_LINE_B = b'data: {"choices": [{"delta":\ndata:  {"content": "lo"}}]}\n\n'


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"], ids=["crlf", "cr"])
async def test_crlf_or_cr_line_ends_split_anywhere(eol):
    """SSE lets a line end in CRLF, LF or CR; a CRLF split between two pieces is one line end
    (two would end the multi-line event early)."""
    wire = (event(A) + MULTI_LINE_B + b"data: [DONE]\n\n").replace(b"\n", eol)
    for cut in range(1, len(wire)):
        assert await chunks(wire[:cut], wire[cut:]) == [A, B], cut
    assert await chunks(*[bytes([b]) for b in wire]) == [A, B]  # a byte at a time


async def test_mixed_line_ends_split_in_three_anywhere():
    """A CR whose LF comes in the next piece, then a line end of another kind: each counts
    once (the LF after a split CRLF must not swallow the next piece's own LF)."""
    wire = event(A, b"\r\n\n") + event(B, b"\r\r") + b"data: [DONE]\r\n\r\n"
    for i in range(1, len(wire)):
        for j in range(i, len(wire)):
            assert await chunks(wire[:i], wire[i:j], wire[j:]) == [A, B], (i, j)


async def test_what_follows_done_is_drained_only_up_to_64_kib():
    tail = [b"x" * 1024] * 200  # 200 KiB after [DONE]: a server that does not stop
    body = Body(event(A), b"data: [DONE]\n\n", *tail)
    assert [c async for c in _stream_chunks(body)] == [A]  # type: ignore[arg-type]
    assert body.read == 2 + 65  # 65 KiB read, then left to the response's close


async def test_done_ends_the_stream_and_the_rest_of_the_body_is_read():
    body = Body(event(A), b"data: [DONE]\n\n", event(B), b"trailing")
    assert [c async for c in _stream_chunks(body)] == [A]  # type: ignore[arg-type]
    assert body.read == 4  # drained: the connection can be reused


class StallingBody(Body):
    """Its pieces, then nothing more and no end: a server that keeps the body open."""

    async def aiter_bytes(self):
        async for p in super().aiter_bytes():
            yield p
        await asyncio.Event().wait()
        yield b""  # never reached


class FailingBody(Body):
    """Its pieces, then a read error (a connection reset)."""

    async def aiter_bytes(self):
        async for p in super().aiter_bytes():
            yield p
        raise httpx2.ReadError("connection reset by peer")


async def test_a_body_left_open_after_done_is_drained_only_for_a_bounded_time(monkeypatch):
    """The answer is complete at [DONE]: a server that then neither sends nor closes must
    not hold the answer back until the read timeout (and then fail it)."""
    monkeypatch.setattr(llm_client, "_DRAIN_S", 0.05)
    body = StallingBody(event(A), b"data: [DONE]\n\n", b"x")
    async with asyncio.timeout(5):  # the drain's own bound ends it, not this one
        assert [c async for c in _stream_chunks(body)] == [A]  # type: ignore[arg-type]
    assert body.read == 3


async def test_a_read_error_after_done_costs_the_connection_not_the_answer():
    body = FailingBody(event(A), b"data: [DONE]\n\n")
    assert [c async for c in _stream_chunks(body)] == [A]  # type: ignore[arg-type]


async def test_a_last_event_without_a_blank_line_counts():
    assert await chunks(event(A), event(B, b"\n")) == [A, B]
    assert await chunks(event(A), event(B, b"")) == [A, B]  # not even a line end
    assert await chunks(event(A), b"data: [DONE]") == [A]


async def test_an_error_object_in_the_stream_is_an_upstream_error():
    err = {"error": {"message": "the model crashed", "type": "server_error"}}
    with pytest.raises(UpstreamError, match="the model crashed") as caught:
        await chunks(event(A), event(err))
    assert caught.value.retryable  # a server's failure: worth another try


@pytest.mark.parametrize(
    ("code", "retried"),
    [(400, False), ("400", False), (400.0, False), (413, False), (429, True), (408, True)],
)
async def test_an_error_in_the_stream_with_a_4xx_code_is_not_retried(code, retried):
    err = {"error": {"message": "context too long", "code": code, "object": "error"}}
    with pytest.raises(UpstreamError, match="context too long") as caught:
        await chunks(event(err))
    assert caught.value.retryable is retried  # as map_error treats the same HTTP status


@pytest.mark.parametrize(
    "chunk",
    [
        {"usage": "lots"},
        {"choices": "many"},
        {"choices": ["one"]},
        {"choices": [{"delta": "text"}]},
        {"choices": [{"delta": {"content": 42}}]},
    ],
    ids=["usage", "choices", "choice", "delta", "content"],
)
async def test_a_chunk_of_the_wrong_shape_is_malformed_not_a_crash(chunk):
    with pytest.raises(ValueError, match="wrong shape"):
        await chunks(event(chunk))


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b'"text"'])
async def test_a_chunk_that_is_not_a_json_object_is_malformed(data):
    with pytest.raises(ValueError):
        await chunks(b"data: " + data + b"\n\n")


@pytest.mark.parametrize(
    "reply",
    [
        {"choices": [{"message": "text"}]},
        {"choices": [{"message": {"content": ["a", "list"]}}]},
        {"choices": [{"message": {"content": "ok"}}], "usage": "lots"},
    ],
    ids=["message", "content", "usage"],
)
async def test_a_whole_answer_of_the_wrong_shape_is_malformed_not_a_crash(reply):
    client = UpstreamClient(Replies(reply))  # type: ignore[arg-type]
    with pytest.raises(UpstreamError, match="malformed"):
        await client.complete([{"role": "user", "content": "hi"}], "gpt-4o-mini", {})
