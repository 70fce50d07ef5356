"""POST /chat: the lecture's endpoint, one JSON answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from ..deps import (ClientDep, LogFieldsDep, PipelineDep, RequestIdDep, ResponseHeadersDep,
                    TimingsDep)
from ..schemas import CHAT_ERRORS, ChatRequest, ChatResponse, Routing, Usage

router = APIRouter(tags=["chat"], responses=CHAT_ERRORS)


@router.post("/chat", response_model=ChatResponse)
@router.post("/chat/limited", response_model=ChatResponse)
@router.post("/chat/smart", response_model=ChatResponse)
async def chat(body: ChatRequest, pipeline: PipelineDep,
               request_id: RequestIdDep, client: ClientDep, log_fields: LogFieldsDep,
               response_headers: ResponseHeadersDep, timings: TimingsDep,
               cache_control: Annotated[str, Header()] = "") -> ChatResponse:
    """Answer one message (with optional earlier turns) in one piece.

    `/chat/limited` and `/chat/smart` are the lecture's names for the rate-limited and the
    routed endpoint; every chat endpoint is both limited and routed (pin `model` to skip
    routing). The choice is in `model_used`, `routing` and the `X-Model` header."""
    return await _answer(body, pipeline, request_id, client, log_fields, response_headers,
                         timings, cache_control, guarded=None)


@router.post("/chat/safe", response_model=ChatResponse)
async def chat_safe(body: ChatRequest, pipeline: PipelineDep,
                    request_id: RequestIdDep, client: ClientDep, log_fields: LogFieldsDep,
                    response_headers: ResponseHeadersDep, timings: TimingsDep,
                    cache_control: Annotated[str, Header()] = "") -> ChatResponse:
    """The lecture's guarded endpoint: always moderated and PII-masked, whatever
    SAFETY_GUARDS says (which puts the same guards on every chat endpoint).

    Flagged input: 400 `content_flagged` with the categories. Personal data is replaced by
    placeholders before the upstream (and the cache) see it, and restored in the answer.
    A flagged answer is replaced by a refusal (`finish_reason: content_filter`)."""
    return await _answer(body, pipeline, request_id, client, log_fields, response_headers,
                         timings, cache_control, guarded=True)


async def _answer(body: ChatRequest, pipeline, request_id: str, client, log_fields: dict,
                  response_headers: dict, timings: dict, cache_control: str,
                  guarded: bool | None) -> ChatResponse:
    call = pipeline.prepare_chat(body, request_id, client, cache_control, guarded=guarded)
    call.response_headers, call.timings = response_headers, timings
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
