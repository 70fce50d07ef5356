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

from .errors import error_response

log = logging.getLogger("reference_service")
access_log = logging.getLogger("reference_service.access")

# A client's X-Request-ID is echoed only if it is short and plain; otherwise we make one.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return new_request_id()


class RequestContextMiddleware:
    """Gives every request an id (echoed in `X-Request-ID`) and logs one line for it.

    Handlers add fields to the line through `request.state.log_fields` (model, tokens...),
    and headers to whatever response goes out (errors included) through
    `request.state.response_headers`.
    Pure ASGI, so streamed responses pass through unbuffered.
    """

    def __init__(self, app: ASGIApp, metrics=None) -> None:
        self.app = app
        self.metrics = metrics  # reference_service.metrics.Metrics, or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        fields: dict = {}
        state["log_fields"] = fields
        extra_headers: dict[str, str] = {}
        state["response_headers"] = extra_headers  # e.g. rate-limit state, set by the pipeline
        timings: dict[str, float] = {}
        state["timings"] = timings  # "upstream_s", set by the pipeline
        start = time.perf_counter()
        status = 0
        if self.metrics is not None:
            self.metrics.in_flight.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in extra_headers.items():
                    if name not in headers:
                        headers[name] = value
                headers["x-request-id"] = rid
                if "upstream_s" in timings:  # time so far not spent waiting for the LLM
                    overhead = time.perf_counter() - start - timings["upstream_s"]
                    headers["x-overhead-ms"] = f"{max(0.0, overhead) * 1000:.2f}"
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug, not the client's fault: logged with its traceback, answered as JSON
            # with the request id (Starlette's own 500 page would carry neither).
            log.exception("unhandled error", extra={"fields": {"request_id": rid}})
            if status:
                raise  # the response has started; nothing better can be sent
            await error_response(500, "internal_error", "Internal error; see the service log.",
                                 rid)(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            if "upstream_s" in timings:
                fields["upstream_ms"] = round(timings["upstream_s"] * 1000, 2)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            status = status or 500
            access_log.info("request", extra={"fields": {
                "request_id": rid, "method": scope["method"],
                "route": route if route != "unmatched" else scope["path"], "status": status,
                "latency_ms": round(seconds * 1000, 2), **fields}})
            if self.metrics is not None:
                self.metrics.in_flight.dec()
                self.metrics.observe_request(route, scope["method"], status, seconds, fields)


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(),
               "logger": record.name, "msg": record.getMessage()}
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
CONTENT_LOGGERS = ("presidio-analyzer", "sse_starlette", "openai", "httpx", "httpcore",
                   "httpx2", "httpcore2")


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
