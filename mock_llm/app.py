"""The fake OpenAI-compatible HTTP API: chat completions (streamed or whole, with usage),
moderations and models, in the format of the chosen upstream profile, plus the `/_mock/*`
control routes (control.py).

Handlers are module-level functions (chat.py, endpoints.py, control.py) that find the
server's settings and state on `request.app.state`; anything that ends a request with an
error raises `MockError`, which one handler writes out (errors.py).
"""

from __future__ import annotations

import itertools
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import control
from .chat import chat_completions
from .config import MockConfig
from .endpoints import get_model, list_models, moderations
from .errors import MockError, handle_mock_error, hide_injected_drops
from .faults import MockState

log = logging.getLogger(__name__)

API_ROUTES = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/moderations", moderations, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]


async def route_not_found(request: Request, exc: Exception) -> Response:
    """A path no route matches: the imitated server's own 404."""
    upstream = request.app.state.config.upstream
    return await handle_mock_error(
        request, upstream.route_not_found(request.method, request.url.path)
    )


def create_app(config: MockConfig | None = None, state: MockState | None = None) -> Starlette:
    """Build the fake server. `state` holds faults, scripted answers and the request log."""
    config = config or MockConfig()
    hide_injected_drops()
    app = Starlette(
        routes=API_ROUTES + control.routes,
        exception_handlers={MockError: handle_mock_error, 404: route_not_found},
    )
    app.state.config = config
    app.state.mock = state or MockState()
    app.state.completion_numbers = itertools.count(1)
    log.debug("mock_llm app built: profile %s, latency %s", config.profile, config.latency)
    return app
