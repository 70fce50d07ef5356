"""What the service knows about one HTTP request while it runs, typed, in one object.

The request-context middleware (observability.py) makes it and puts it in the ASGI scope;
handlers get it through one dependency (deps.ContextDep) and attach their chat call to it;
at the response's start the middleware writes the call's headers, and at its end the
request's log line, from it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

if TYPE_CHECKING:
    from .call import ChatCall

SCOPE_KEY = "request_context"


@dataclass
class RequestContext:
    request_id: str
    started: float = field(default_factory=time.perf_counter)  # a measurement, not policy
    call: ChatCall | None = None  # the chat call, when the request is one
    error_type: str | None = None  # the error answered, for the log line and the metrics

    def response_headers(self) -> dict[str, str]:
        """The call's headers, and the gateway's own time so far (`X-Overhead-Ms`: time
        not spent waiting for the upstream), when the upstream was called."""
        if self.call is None:
            return {}
        headers = self.call.response_headers()
        if self.call.upstream_s is not None:
            overhead = time.perf_counter() - self.started - self.call.upstream_s
            headers["x-overhead-ms"] = f"{max(0.0, overhead) * 1000:.2f}"
        return headers

    def log_fields(self) -> dict[str, Any]:
        fields = self.call.log_fields() if self.call is not None else {}
        if self.error_type:
            fields["error_type"] = self.error_type
        return fields


def context_of(scope: Scope) -> RequestContext | None:
    ctx: RequestContext | None = scope.get("state", {}).get(SCOPE_KEY)
    return ctx
