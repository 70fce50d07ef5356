"""The HTTP/1.1 protocol the service runs on: uvicorn's httptools protocol, with a bound on
the request head (request line and headers).

uvicorn's httptools protocol has no such bound: a client could send a 16 MiB header, or
5,000 headers, and the server would read all of it into memory and pass it to the app. No
library we use offers the bound (h11 has a buffer limit, but answers 400 and is slower), so
it is written here: the bytes of a head are counted as they arrive, before the parser
buffers them, and past MAX_HEADER_BYTES or MAX_HEADERS the connection gets a 431 and is
closed without reading the rest. Used by `python -m reference_service` (`http=` of
uvicorn.run); with `uvicorn ...` pass `--http reference_service.http_protocol:BoundedHttpToolsProtocol`.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_MAX_HEADERS = 100


@lru_cache(maxsize=1)
def head_limits() -> tuple[int, int]:
    """(bytes, count) from MAX_HEADER_BYTES and MAX_HEADERS (read once per process: each
    worker of `--workers N` is a process of its own)."""
    return (
        int(os.environ.get("MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES)),
        int(os.environ.get("MAX_HEADERS", DEFAULT_MAX_HEADERS)),
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a bounded request head; answers 431 beyond it."""

    _in_head = True  # between two requests, or before a request's headers are complete
    _head_bytes = 0
    _head_count = 0
    _refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > head_limits()[0]:
                self._refuse(f"The request head is larger than {head_limits()[0]} bytes.")
                return
        super().data_received(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        if self._head_count > head_limits()[1]:
            self._refuse(f"The request has more than {head_limits()[1]} headers.")
            raise _HeadRefused  # stops the parser; data_received sees a parser error
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes, self._head_count = False, 0, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a 431 already went out for this connection
            super().send_400_response(msg)

    def _refuse(self, message: str) -> None:
        """431 with the service's JSON error shape, then close: the rest is never read."""
        self._refused = True
        body = json.dumps(
            {"error": {"type": "request_header_too_large", "message": message, "request_id": None}}
        ).encode()
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()


class _HeadRefused(Exception):
    """Not an error of the service: raised from a parser callback to stop httptools' parser
    (data_received then sees a parser error; the client has had its 431 already)."""
