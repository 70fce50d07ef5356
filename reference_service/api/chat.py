"""The lecture's four JSON chat endpoints: /chat, /chat/smart, /chat/safe, /chat/limited.

Same body and answer on all four (the lecture's ChatRequest/ChatResponse, plus the lab's
fields); each path keeps the lecture's meaning:
- /chat: the requested model (default DEFAULT_MODEL), not routed (`"model": "auto"` routes);
- /chat/smart: the router chooses the model;
- /chat/safe: moderated in and out, personal data masked, whatever SAFETY_GUARDS says;
- /chat/limited: the lecture's per-client limit (LIMITED_RPM in any 60 s per X-Client-ID).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from ..call import ChatCall
from ..clients import CLIENT_ID_PATTERN, limited_client_key
from ..context import RequestContext
from ..deps import ClientDep, ContextDep, ServicesDep
from ..schemas import CHAT_ERRORS, ChatRequest, ChatResponse, Routing, Usage
from ..services import Services

router = APIRouter(tags=["chat"], responses=CHAT_ERRORS)
CacheControl = Annotated[str, Header()]


@router.post("/chat", response_model=ChatResponse)
async def chat(
    body: ChatRequest,
    services: ServicesDep,
    ctx: ContextDep,
    client: ClientDep,
    cache_control: CacheControl = "",
) -> ChatResponse:
    """Answer one message (with optional earlier turns) in one piece, on the requested
    model (default DEFAULT_MODEL; `"auto"` lets the router choose)."""
    call = services.calls.from_chat(body, ctx.request_id, client, cache_control)
    return await _answer(services, ctx, call, body)


@router.post("/chat/smart", response_model=ChatResponse)
async def chat_smart(
    body: ChatRequest,
    services: ServicesDep,
    ctx: ContextDep,
    client: ClientDep,
    cache_control: CacheControl = "",
) -> ChatResponse:
    """The lecture's routed endpoint: the router picks the cheap or the strong model by the
    message's complexity (`model` in the body is not used, as in the lecture). The choice is
    in `model_used`, `routing` and the `X-Model` header."""
    call = services.calls.from_chat(body, ctx.request_id, client, cache_control, routed=True)
    return await _answer(services, ctx, call, body)


@router.post("/chat/safe", response_model=ChatResponse)
async def chat_safe(
    body: ChatRequest,
    services: ServicesDep,
    ctx: ContextDep,
    client: ClientDep,
    cache_control: CacheControl = "",
) -> ChatResponse:
    """The lecture's guarded endpoint: always moderated and PII-masked, whatever
    SAFETY_GUARDS says (which puts the same guards on every chat endpoint).

    Flagged input: 400 `content_flagged` naming the categories. Personal data is replaced by
    placeholders before the upstream (and the cache) see it, and restored in the answer.
    A flagged answer is replaced by the lecture's refusal (`finish_reason: content_filter`)."""
    call = services.calls.from_chat(body, ctx.request_id, client, cache_control, guarded=True)
    return await _answer(services, ctx, call, body)


@router.post("/chat/limited", response_model=ChatResponse)
async def chat_limited(
    body: ChatRequest,
    services: ServicesDep,
    ctx: ContextDep,
    client: ClientDep,
    x_client_id: Annotated[
        str | None, Header(pattern=CLIENT_ID_PATTERN, description='default: the client "anonymous"')
    ] = None,
    cache_control: CacheControl = "",
) -> ChatResponse:
    """The lecture's rate-limited endpoint: at most LIMITED_RPM (30) requests in any 60 s
    per `X-Client-ID` (client "anonymous" without it; with API_KEYS, per key), exact across
    workers; over it, 429 with Retry-After."""
    call = services.calls.from_chat(body, ctx.request_id, client, cache_control)
    call.limited_client = limited_client_key(x_client_id, client, services.settings)
    return await _answer(services, ctx, call, body)


async def _answer(
    services: Services, ctx: RequestContext, call: ChatCall, body: ChatRequest
) -> ChatResponse:
    ctx.call = call
    result = await services.pipeline.complete(call)
    route = call.route
    assert route is not None
    return ChatResponse(
        session_id=body.session_id,
        answer=result.text,
        model_used=result.model,
        latency_ms=round(result.latency_ms, 1),
        tokens_used=result.total_tokens,
        response=result.text,
        model=result.model,
        routing=Routing(
            reason=route.reason,
            router=route.router,
            score=route.score,
            fallback_from=route.fallback_from,
        ),
        request_id=ctx.request_id,
        cache=result.cache,
        usage=Usage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.total_tokens,
        ),
        finish_reason=result.finish_reason,
    )
