"""POST /v1/chat/completions and GET /v1/models: an OpenAI-compatible front door, so the
official SDK (or any OpenAI client) can use this service as its `base_url`."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from starlette.responses import Response

from ..deps import ClientDep, ContextDep, LifecycleDep, ServicesDep, SettingsDep
from ..errors import ModelNotFound
from ..schemas import CHAT_ERRORS, ChatCompletionRequest, error_doc
from ..streaming import EventChannel, openai_events, sse_response

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
COMPLETION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a chat.completion object, or with `stream: true` "
        "chat.completion.chunk events then [DONE]",
        "content": {"application/json": {}, "text/event-stream": {}},
    },
    **CHAT_ERRORS,
}


@router.post("/chat/completions", responses=COMPLETION_RESPONSES)
async def chat_completions(
    body: ChatCompletionRequest,
    services: ServicesDep,
    lifecycle: LifecycleDep,
    ctx: ContextDep,
    client: ClientDep,
    cache_control: Annotated[str, Header()] = "",
) -> Response:
    """OpenAI's chat completions API, streaming (`stream: true`) or not. `model: "auto"`
    lets the router choose."""
    call = services.calls.from_completion(body, ctx.request_id, client, cache_control)
    ctx.call = call
    completion_id = f"chatcmpl-{ctx.request_id}"
    created = int(time.time())
    if body.stream:
        channel = EventChannel(services.pipeline.stream(call), lifecycle)
        first = await channel.first()
        assert call.model is not None  # routed by now
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = openai_events(
            channel.rest(first),
            call,
            completion_id=completion_id,
            created=created,
            model=call.model,
            include_usage=include_usage,
        )
        return sse_response(events, services.settings.sse_ping_s)

    r = await services.pipeline.complete(call)
    message: dict[str, Any] = {"role": "assistant", "content": r.text, "refusal": None}
    if r.tool_calls:
        message.update(content=r.text or None, tool_calls=r.tool_calls)
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": r.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": r.finish_reason or "stop",
                }
            ],
            "usage": {
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "total_tokens": r.total_tokens,
            },
        }
    )


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "reference_service"}


@router.get("/models")
async def list_models(settings: SettingsDep) -> dict[str, Any]:
    """The models a client may ask for; `auto` lets the router choose."""
    return {"object": "list", "data": [_model(m) for m in (*settings.models, "auto")]}


@router.get("/models/{model_id}", responses={404: error_doc("no such model")})
async def get_model(model_id: str, settings: SettingsDep) -> dict[str, Any]:
    """One model, as OpenAI's `GET /v1/models/{model}` answers."""
    if model_id not in (*settings.models, "auto"):
        raise ModelNotFound(
            f"The model {model_id[:100]!r} does not exist here; see GET /v1/models.",
            param="model",
            code="model_not_found",
        )
    return _model(model_id)
