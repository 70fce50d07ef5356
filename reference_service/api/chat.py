"""POST /chat: the lecture's endpoint, one JSON answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from ..deps import ClientDep, LogFieldsDep, PipelineDep, RequestIdDep, ResponseHeadersDep
from ..schemas import ChatRequest, ChatResponse, Routing, Usage

router = APIRouter(tags=["chat"])


@router.post("/chat", response_model=ChatResponse)
@router.post("/chat/limited", response_model=ChatResponse)
@router.post("/chat/smart", response_model=ChatResponse)
async def chat(body: ChatRequest, pipeline: PipelineDep,
               request_id: RequestIdDep, client: ClientDep, log_fields: LogFieldsDep,
               response_headers: ResponseHeadersDep,
               cache_control: Annotated[str, Header()] = "") -> ChatResponse:
    """Answer one message (with optional earlier turns) in one piece.

    `/chat/limited` and `/chat/smart` are the lecture's names for the rate-limited and the
    routed endpoint; every chat endpoint is both limited and routed (pin `model` to skip
    routing). The choice is in `model_used`, `routing` and the `X-Model` header."""
    call = pipeline.prepare_chat(body, request_id, client, cache_control)
    call.response_headers = response_headers
    log_fields.update(tenant=client.tenant)
    result = await pipeline.complete(call)
    route = call.route
    log_fields.update(result.log_fields(), routing=route.reason)
    return ChatResponse(
        response=result.text, model=result.model, model_used=result.model,
        routing=Routing(reason=route.reason, router=route.router, score=route.score,
                        fallback_from=route.fallback_from),
        request_id=request_id, cache=result.cache,
        tokens_used=result.total_tokens,
        usage=Usage(prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens, total_tokens=result.total_tokens),
        finish_reason=result.finish_reason, latency_ms=round(result.latency_ms, 2))
