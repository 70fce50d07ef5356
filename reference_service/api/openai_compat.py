"""POST /v1/chat/completions and GET /v1/models: an OpenAI-compatible front door, so the
official SDK (or any OpenAI client) can use this service as its `base_url`."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from ..deps import (ClientDep, LifecycleDep, LogFieldsDep, PipelineDep, RequestIdDep,
                    ResponseHeadersDep, SettingsDep, TimingsDep)
from ..schemas import CHAT_ERRORS, ChatCompletionRequest
from ..streaming import EventChannel, openai_events, sse_response

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
COMPLETION_RESPONSES = {200: {"description": "a chat.completion object, or with `stream: true` "
                                             "chat.completion.chunk events then [DONE]",
                              "content": {"application/json": {}, "text/event-stream": {}}},
                        **CHAT_ERRORS}


@router.post("/chat/completions", responses=COMPLETION_RESPONSES)
async def chat_completions(body: ChatCompletionRequest, pipeline: PipelineDep,
                           lifecycle: LifecycleDep, settings: SettingsDep,
                           request_id: RequestIdDep, log_fields: LogFieldsDep,
                           client: ClientDep, response_headers: ResponseHeadersDep,
                           timings: TimingsDep, cache_control: Annotated[str, Header()] = ""):
    """OpenAI's chat completions API, streaming (`stream: true`) or not. `model: "auto"`
    lets the router choose."""
    call = pipeline.prepare_completion(body, request_id, client, cache_control)
    call.response_headers, call.timings = response_headers, timings
    log_fields.update(tenant=client.tenant)
    completion_id = f"chatcmpl-{request_id}"
    created = int(time.time())
    if body.stream:
        channel = EventChannel(pipeline.stream(call), lifecycle)
        first = await channel.first()
        log_fields.update(routing=call.route.reason)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = openai_events(channel.rest(first), completion_id=completion_id, created=created,
                               model=call.model, include_usage=include_usage,
                               request_id=request_id, log_fields=log_fields)
        return sse_response(events, {}, settings.sse_ping_s)

    r = await pipeline.complete(call)
    log_fields.update(r.log_fields(), routing=call.route.reason)
    return JSONResponse({
        "id": completion_id, "object": "chat.completion", "created": created, "model": r.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": r.text,
                                             "refusal": None},
                     "logprobs": None, "finish_reason": r.finish_reason or "stop"}],
        "usage": {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                  "total_tokens": r.total_tokens},
    })


@router.get("/models")
async def list_models(settings: SettingsDep):
    """The models a client may ask for."""
    return {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                        "owned_by": "reference_service"} for m in settings.models]}
