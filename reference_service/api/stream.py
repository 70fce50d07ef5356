"""POST /chat/stream and GET /chat/stream?message=...: tokens as Server-Sent Events.

The lecture's events: `token` (the token's text), then `done` (`[DONE]`); or `error`
{"type", "message", "request_id"} if it fails after the first token (before it, a JSON
error response with its status). Asked for (`stream_options.include_usage`, or
`include_usage=true` on GET), a `usage` event goes before `done`. The GET form exists
because a browser's EventSource can only GET: the lecture's browser snippet uses it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from ..clients import Client
from ..context import RequestContext
from ..deps import ClientDep, ContextDep, LifecycleDep, ServicesDep
from ..lifecycle import Lifecycle
from ..schemas import CHAT_ERRORS, ChatRequest, StreamOptions, StreamQuery
from ..services import Services
from ..streaming import EventChannel, chat_events, sse_response

router = APIRouter(tags=["chat"], responses=CHAT_ERRORS)

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "token events, then (if asked) usage, then done; or error",
    }
}


async def _stream(
    body: ChatRequest,
    services: Services,
    lifecycle: Lifecycle,
    ctx: RequestContext,
    client: Client,
    cache_control: str = "",
) -> Response:
    call = services.calls.from_chat(body, ctx.request_id, client, cache_control)
    ctx.call = call
    channel = EventChannel(services.pipeline.stream(call), lifecycle)
    first = await channel.first()  # routed and admitted by now: its headers are known
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return sse_response(
        chat_events(
            channel.rest(first), call, include_usage=include_usage, session_id=body.session_id
        ),
        services.settings.sse_ping_s,
    )


@router.post("/chat/stream", responses=_SSE_DOC)
async def chat_stream(
    body: ChatRequest,
    services: ServicesDep,
    lifecycle: LifecycleDep,
    ctx: ContextDep,
    client: ClientDep,
    cache_control: Annotated[str, Header()] = "",
) -> Response:
    """Stream the answer to one message as SSE events."""
    return await _stream(body, services, lifecycle, ctx, client, cache_control)


@router.get("/chat/stream", responses=_SSE_DOC)
async def chat_stream_get(
    query: Annotated[StreamQuery, Query()],
    services: ServicesDep,
    lifecycle: LifecycleDep,
    ctx: ContextDep,
    client: ClientDep,
) -> Response:
    """The same stream for `EventSource` (GET only): `/chat/stream?message=...`.

    Cache-Control is not read here: every browser's EventSource sends `no-cache` on its
    own, which would keep the page from ever being served by the cache."""
    # No history here: a URL is no place for a conversation.
    fields = query.model_dump(exclude={"include_usage"})
    body = ChatRequest(**fields, stream_options=StreamOptions(include_usage=query.include_usage))
    return await _stream(body, services, lifecycle, ctx, client)
