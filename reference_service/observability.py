"""Request ids and structured logs: one JSON line per request, never message text."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import SCOPE_KEY, RequestContext
from .errors import error_response
from .metrics import Metrics

log = logging.getLogger(__name__)
access_log = logging.getLogger("reference_service.access")  # one line per request

# A client's X-Request-ID is echoed only if it is short and plain; otherwise we make one.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return new_request_id()


class RequestContextMiddleware:
    """Gives every request an id (echoed in `X-Request-ID`) and a `RequestContext`, writes
    the chat call's headers on whatever response goes out (errors included), and logs one
    line per request. Pure ASGI, so streamed responses pass through unbuffered."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = RequestContext(request_id_from(scope))
        scope.setdefault("state", {})[SCOPE_KEY] = ctx
        status = 0
        if self.metrics is not None:
            self.metrics.in_flight.inc()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in ctx.response_headers().items():
                    if name not in headers:
                        headers[name] = value
                headers["x-request-id"] = ctx.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # A bug, not the client's fault: logged with its traceback, answered as JSON
            # with the request id (Starlette's own 500 page would carry neither).
            log.exception("unhandled error", extra={"fields": {"request_id": ctx.request_id}})
            if status:
                raise  # the response has started; nothing better can be sent
            await error_response(
                500,
                "internal_error",
                "Internal error; see the service log.",
                ctx.request_id,
                path=scope["path"],
            )(scope, receive, send_with_headers)
        finally:
            self._log(scope, ctx, status or 500)

    def _log(self, scope: Scope, ctx: RequestContext, status: int) -> None:
        seconds = time.perf_counter() - ctx.started
        fields = ctx.log_fields()
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        access_log.info(
            "request",
            extra={
                "fields": {
                    "request_id": ctx.request_id,
                    "method": scope["method"],
                    "route": route if route != "unmatched" else scope["path"],
                    "status": status,
                    "latency_ms": round(seconds * 1000, 2),
                    **fields,
                }
            },
        )
        if self.metrics is not None:
            self.metrics.in_flight.dec()
            self.metrics.observe_request(route, scope["method"], status, seconds, fields)


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "pid", ...fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }  # tells the workers of `--workers N` apart
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        return f"{record.levelname:<7} {record.name}: {record.getMessage()} {fields}".rstrip()


# Libraries whose debug lines quote message text: Presidio ("Context list is: <the words>"),
# sse-starlette (every chunk sent), the openai SDK and httpx (request bodies).
CONTENT_LOGGERS = (
    "presidio-analyzer",
    "sse_starlette",
    "openai",
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
)


def configure_logging(level: str, fmt: str) -> None:
    """Our loggers write one line per record to stderr (idempotent). Libraries that would
    log message text are held at WARNING, whatever level the root logger is given."""
    for name in CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logger = logging.getLogger("reference_service")
    logger.setLevel(level.upper())
    logger.propagate = False
    handler = next((h for h in logger.handlers if getattr(h, "_ours", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._ours = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
