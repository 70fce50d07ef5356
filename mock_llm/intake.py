"""What every request to the fake API goes through first: its body is read and recorded
in the request log, checked, and given its fault (if any)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request

from .config import MockConfig
from .errors import MockError, bad_control_request
from .faults import Fault, MockState, RecordedRequest
from .profiles import Problem, UpstreamProfile

ROLES = {"system", "developer", "user", "assistant", "tool"}
_REDACTED_HEADERS = {"authorization", "api-key", "cookie"}


def config_of(request: Request) -> MockConfig:
    config: MockConfig = request.app.state.config
    return config


def state_of(request: Request) -> MockState:
    state: MockState = request.app.state.mock
    return state


async def read_json(request: Request, path: str) -> tuple[object, RecordedRequest]:
    """The parsed body, recorded in the log (without secrets); the profile's own error
    for a body that is not JSON."""
    raw = await request.body()
    headers = {k: v for k, v in request.headers.items() if k not in _REDACTED_HEADERS}
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        request.state.recorded = state_of(request).record(
            request.method, path, headers, raw.decode("utf-8", "replace")
        )
        raise config_of(request).upstream.invalid_json(raw, exc) from None
    request.state.recorded = state_of(request).record(request.method, path, headers, body)
    return body, request.state.recorded


def chat_problem(body: object, upstream: UpstreamProfile) -> Problem | None:
    """The first problem of a chat request body, or None."""
    if not isinstance(body, dict):
        return Problem("body", "The request body must be a JSON object.", "body")
    model = body.get("model")
    if (model is not None or upstream.requires_model) and (not isinstance(model, str) or not model):
        return Problem("model", "you must provide a model parameter", "model_missing")
    messages = body.get("messages")
    wrong = "'messages' must be a non-empty array."
    if messages is None:
        return Problem("messages", wrong, "messages_missing")
    if not isinstance(messages, list):
        return Problem("messages", wrong, "messages_type")
    if not messages and not upstream.accepts_empty_messages:
        return Problem("messages", wrong, "messages_empty")
    return _message_problem(messages) or _limit_problem(body) or upstream.extra_problem(body)


def _message_problem(messages: list[Any]) -> Problem | None:
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return Problem(
                f"messages.[{i}].role", f"Invalid value for 'messages[{i}].role'.", "role"
            )
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            return Problem(
                f"messages.[{i}].content", f"Invalid type for 'messages[{i}].content'.", "content"
            )
    return None


def _limit_problem(body: dict[str, Any]) -> Problem | None:
    for key in ("max_tokens", "max_completion_tokens"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            return Problem(key, f"'{key}' must be a positive integer.", "max_tokens")
    return None


def pick_fault(request: Request, endpoint: str, model: str | None) -> Fault | None:
    """The fault named by the X-Mock-Fault header, else the schedule's next one."""
    kind = request.headers.get("x-mock-fault")
    if not kind:
        return state_of(request).next_fault(endpoint, model)
    try:
        ra = request.headers.get("x-mock-retry-after")
        return Fault(
            kind,
            retry_after=float(ra) if ra else None,
            after_chunks=int(request.headers.get("x-mock-fault-after-chunks", 2)),
        )
    except ValueError as exc:
        raise bad_control_request(str(exc), param="x-mock-fault") from None


async def apply_fault(
    request: Request, endpoint: str, model: str | None, rec: RecordedRequest
) -> Fault | None:
    """This request's fault. A fault that is the whole answer (an error status, an
    overload, a hang the client gave up on) is raised; drop and malformed are returned
    for the response to act out."""
    fault = pick_fault(request, endpoint, model)
    rec.fault = fault.kind if fault else None
    if fault is None:
        return None
    upstream = config_of(request).upstream
    if fault.kind.isdigit():
        raise upstream.injected(int(fault.kind), fault.retry_after)
    if fault.kind == "overloaded":
        raise upstream.overloaded()
    if fault.kind == "hang":
        hang_s = fault.hang_s if fault.hang_s is not None else config_of(request).hang_s
        if await client_left_during(request, hang_s):
            raise MockError(499, "", outcome="client_disconnected")
    return fault


async def client_left_during(request: Request, seconds: float) -> bool:
    """Hold the request open for `seconds`; True as soon as the client goes away."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(0.02)
    return False
