"""The fake server's one error type and its one handler.

Anything that ends a request with an error status raises `MockError`: a bad body, an
unknown model, an injected fault, a route this upstream does not have. The body is
already in the shape of the server being imitated (see profiles/), so the handler only
writes it out and records the outcome in the request log.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

log = logging.getLogger(__name__)

# OpenAI's error types by status (the fake's own /_mock/* API answers in this shape too).
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
}


class MockError(Exception):
    """End the request with `status` and `body` (a JSON object, or plain text).

    `outcome` goes to the request log: "error" for a request the server refuses,
    "fault" for an injected failure, "client_disconnected" when nobody is left to answer.
    """

    def __init__(
        self,
        status: int,
        body: dict[str, Any] | str,
        *,
        headers: dict[str, str] | None = None,
        outcome: str = "error",
    ) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.outcome = outcome


def openai_error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """`{"error": {message, type, param, code}}` as OpenAI's API writes it."""
    err_type = OPENAI_ERROR_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    return {"error": {"message": message, "type": err_type, "param": param, "code": code}}


def bad_control_request(message: str, param: str | None = None) -> MockError:
    """A malformed call to the fake's own /_mock/* API (OpenAI's error shape)."""
    return MockError(400, openai_error_body(400, message, param=param))


async def handle_mock_error(request: Request, exc: Exception) -> Response:
    """The one handler: record the outcome, write the body."""
    assert isinstance(exc, MockError)
    recorded = getattr(request.state, "recorded", None)
    if recorded is not None:
        recorded.status, recorded.outcome = exc.status, exc.outcome
    log.debug(
        "answering %s %s with %d (%s)", request.method, request.url.path, exc.status, exc.outcome
    )
    if isinstance(exc.body, str):
        return PlainTextResponse(exc.body, status_code=exc.status, headers=exc.headers)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


class DropConnection(Exception):
    """Raised inside a response body to make the server cut the connection."""


class HideInjectedDrops(logging.Filter):
    """uvicorn logs a traceback for every dropped connection; an injected one is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DropConnection):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def hide_injected_drops() -> None:
    """Install the filter on uvicorn's error logger, once per process."""
    uvicorn_log = logging.getLogger("uvicorn.error")  # uvicorn's logger, not ours
    if not any(isinstance(f, HideInjectedDrops) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(HideInjectedDrops())
