"""The upstream stream read off the SDK's raw response (llm/client.py `_stream_chunks`):
SSE framing however the bytes arrive, `[DONE]`, and errors in the stream."""

from __future__ import annotations

import json

import pytest

from reference_service.errors import UpstreamError
from reference_service.llm.client import _stream_chunks


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


async def test_done_ends_the_stream_and_the_rest_of_the_body_is_read():
    body = Body(event(A), b"data: [DONE]\n\n", event(B), b"trailing")
    assert [c async for c in _stream_chunks(body)] == [A]  # type: ignore[arg-type]
    assert body.read == 4  # drained: the connection can be reused


async def test_a_last_event_without_a_blank_line_counts():
    assert await chunks(event(A), event(B, b"\n")) == [A, B]
    assert await chunks(event(A), event(B, b"")) == [A, B]  # not even a line end
    assert await chunks(event(A), b"data: [DONE]") == [A]


async def test_an_error_object_in_the_stream_is_an_upstream_error():
    err = {"error": {"message": "the model crashed", "type": "server_error"}}
    with pytest.raises(UpstreamError, match="the model crashed"):
        await chunks(event(A), event(err))


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b'"text"'])
async def test_a_chunk_that_is_not_a_json_object_is_malformed(data):
    with pytest.raises(ValueError):
        await chunks(b"data: " + data + b"\n\n")
