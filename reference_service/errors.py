"""Errors as a class hierarchy, and the one JSON shape every error response has:
`{"error": {"type", "message", "request_id"}}` with the right status code."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .context import context_of


class ServiceError(Exception):
    """Base class: an error the client is told about, with its status and type."""

    status = 500
    type = "internal_error"
    retryable = False  # may another attempt at the upstream succeed?

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param  # the request field at fault, when there is one
        self.details = details or {}  # extra fields of the error body
        self.retry_after = retry_after
        self.code = code
        self.headers = headers or {}
        if retryable is not None:
            self.retryable = retryable


class BadRequest(ServiceError):
    status, type = 400, "invalid_request"


class UnknownModel(BadRequest):
    type = "unknown_model"


class Unauthorized(ServiceError):
    status, type = 401, "unauthorized"


class RateLimited(ServiceError):
    status, type = 429, "rate_limited"


class RequestTooLarge(ServiceError):
    status, type = 413, "request_too_large"


class ContentFlagged(BadRequest):
    """Moderation flagged the input: the categories, never the scores or the text."""

    type = "content_flagged"


class PiiBlocked(BadRequest):
    """The input holds personal data whose policy is `block`."""

    type = "pii_blocked"


class OutputFlagged(ServiceError):
    """Moderation flagged the answer while it streamed (a final `error` event)."""

    status, type = 502, "output_flagged"


class SafetyUnavailable(ServiceError):
    """A safety check could not run; the request is refused (fail closed)."""

    status, type = 503, "safety_unavailable"


class ShuttingDown(ServiceError):
    status, type = 503, "shutting_down"


class UpstreamError(ServiceError):
    """The LLM upstream failed; subclasses say how. Retryable unless said otherwise."""

    status, type = 502, "upstream_error"
    retryable = True


class UpstreamRejected(UpstreamError):
    """The upstream refused the request as invalid (its 400): the client's input."""

    status, type = 400, "upstream_rejected"
    retryable = False


class UpstreamUnavailable(UpstreamError):
    status, type = 503, "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status, type = 504, "upstream_timeout"


class ModelNotFound(ServiceError):
    status, type = 404, "model_not_found"


class Forbidden(ServiceError):
    status, type = 403, "forbidden"


class CacheDisabled(ServiceError):
    status, type = 404, "cache_disabled"


class LimiterUnavailable(ServiceError):
    status, type = 503, "rate_limiter_unavailable"


class KeyStoreUnavailable(ServiceError):
    """Class mode: the keys and budgets in Redis cannot be read (fail closed)."""

    status, type = 503, "key_store_unavailable"


class CircuitOpen(ServiceError):
    """The breaker for this upstream is open: refused without calling it."""

    status, type = 503, "circuit_open"


class VectorSetsMissing(RuntimeError):
    """The cache's Redis server has no vector sets (it is older than 8): a startup error."""


class EmbedderError(RuntimeError):
    """The embedding model's weights are missing or not the expected file: a startup error."""


class ModerationUnsupported(RuntimeError):
    """MODERATION_MODE=upstream, and the endpoint has no /v1/moderations: a startup error."""


class BodyTooLarge(StarletteHTTPException):
    """Raised while reading a body that outgrows the limit (body_limit.py); the error
    handlers make it a 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than {max_bytes} bytes.")


def request_id_of(request: Request) -> str | None:
    ctx = context_of(request.scope)
    return ctx.request_id if ctx is not None else None


def error_body(type_: str, message: str, request_id: str | None, **extra: Any) -> dict[str, Any]:
    """The lab's shape: `{"error": {"type", "message", "request_id", ...}}`."""
    return {"error": {"type": type_, "message": message, "request_id": request_id, **extra}}


def openai_error_body(
    status: int,
    type_: str,
    message: str,
    request_id: str | None,
    *,
    param: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """OpenAI's shape, for the /v1 door: `{"error": {"message", "type", "param", "code"}}`,
    the lab's type as the `code`, and the request id. The SDK reads `message` and maps the
    status to its exception classes; `type` follows OpenAI's names."""
    kind = (
        "requests"
        if status == 429
        else "server_error"
        if status >= 500
        else "invalid_request_error"
    )
    return {
        "error": {
            "message": message,
            "type": kind,
            "param": param,
            "code": extra.pop("code", None) or type_,
            "request_id": request_id,
            **extra,
        }
    }


def is_openai_path(path: str) -> bool:
    return path.startswith("/v1/")


def error_response(
    status: int,
    type_: str,
    message: str,
    request_id: str | None,
    *,
    retry_after: int | None = None,
    path: str = "",
    param: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """An error in the shape its door speaks: OpenAI's on /v1 (where an invalid request is
    a 400, as OpenAI answers it, not our 413/422), the lab's elsewhere."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if is_openai_path(path):
        body = openai_error_body(status, type_, message, request_id, param=param, **extra)
        status = 400 if status in (413, 422) else status
    else:
        body = error_body(type_, message, request_id, **extra)
    return JSONResponse(body, status_code=status, headers=headers)


def service_error_response(
    exc: ServiceError, request_id: str | None, path: str = ""
) -> JSONResponse:
    extra: dict[str, Any] = {"code": exc.code} if exc.code else {}
    extra.update(exc.details)
    response = error_response(
        exc.status,
        exc.type,
        exc.message,
        request_id,
        retry_after=exc.retry_after,
        path=path,
        param=exc.param,
        **extra,
    )
    response.headers.update(exc.headers)
    return response


# long: the handlers of every error kind, registered together
def install_error_handlers(app: FastAPI) -> None:
    """Map every error a client can cause to a JSON error body. (Bugs become a JSON 500
    with the request id in observability.RequestContextMiddleware.)"""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        ctx = context_of(request.scope)
        if ctx is not None:
            ctx.error_type = exc.type  # for the log line and the metrics
        return service_error_response(exc, request_id_of(request), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        path = request.url.path
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(
                400,
                "invalid_json",
                "The request body is not valid JSON.",
                request_id_of(request),
                path=path,
            )
        # Never echo the input back: it may be huge or contain personal data.
        details = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in errors
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body") or "body"
        return error_response(
            422,
            "validation_error",
            f"{where}: {first['msg']}",
            request_id_of(request),
            path=path,
            param=where if where != "body" else None,
            details=details,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = {
            400: "invalid_body",
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
        }.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 400:  # FastAPI could not decode the body at all
            message = "The request body could not be parsed; send UTF-8 JSON."
        response = error_response(
            exc.status_code, type_, message, request_id_of(request), path=request.url.path
        )
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            path = request.app.openapi()["paths"].get(request.url.path, {})
            if path:
                response.headers["Allow"] = ", ".join(sorted(m.upper() for m in path))
        return response
