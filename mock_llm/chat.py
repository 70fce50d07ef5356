"""POST /v1/chat/completions: a deterministic answer, with real token counts, in the
format of the upstream being imitated, streamed or whole."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from reference_service.tokens import count_chat_tokens, message_text, split_tokens

from . import knowledge
from .errors import bad_control_request
from .faults import Fault, RecordedRequest
from .intake import apply_fault, chat_problem, config_of, read_json, state_of
from .profiles import Completion, UpstreamProfile
from .stream import dropped_body, stream_events
from .timing import ModelProfile, Timing


async def chat_completions(request: Request) -> Response:
    """Check the body, pick the model, apply the fault, then answer whole or streamed."""
    body, rec = await read_json(request, "/v1/chat/completions")
    config = config_of(request)
    upstream = config.upstream
    problem = chat_problem(body, upstream)
    if problem is not None:
        raise upstream.invalid_request(problem)
    assert isinstance(body, dict)
    name, model = upstream.resolve_model(body.get("model"), config.served_models)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    prompt_tokens = upstream.admit_prompt(
        count_chat_tokens(body["messages"]), limit, config.effective_context_length
    )
    fault = await apply_fault(request, "chat", name, rec)
    timing = _timing(request, model)
    completion = _complete(request, body, name, model, prompt_tokens, limit)
    headers = upstream.headers(completion, rec.id)
    rec.status = 200
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = stream_events(
            upstream.stream_frames(completion, include_usage),
            timing,
            fault,
            rec,
            upstream.completion_id(completion.number),
        )
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    await timing.until(timing.token_due(completion.completion_tokens))
    return _whole(upstream, completion, fault, rec, headers)


def _timing(request: Request, model: ModelProfile) -> Timing:
    try:
        return Timing(model, config_of(request).latency, request.headers)
    except ValueError:
        raise bad_control_request("X-Mock-TTFT-Ms and X-Mock-TPS must be numbers") from None


def _complete(
    request: Request,
    body: dict[str, Any],
    name: str,
    model: ModelProfile,
    prompt_tokens: int,
    limit: int | None,
) -> Completion:
    """The answer: a scripted one, the X-Mock-Answer header, or the knowledge base's."""
    tool_call = state_of(request).next_scripted_tool_call()
    text = (
        tool_call[1]
        if tool_call
        else (
            state_of(request).next_scripted_answer()
            or request.headers.get("x-mock-answer")
            or knowledge.answer(
                [message_text(m) for m in body["messages"] if m.get("role") == "user"],
                name,
                model.detailed,
            )
        )
    )
    pieces, finish = split_tokens(text), "tool_calls" if tool_call else "stop"
    if limit and len(pieces) > limit:
        pieces, finish = pieces[:limit], "length"
    return Completion(
        number=next(request.app.state.completion_numbers),
        created=int(time.time()),
        model=name,
        pieces=pieces,
        finish=finish,
        prompt_tokens=prompt_tokens,
        tool_call=tool_call,
    )


def _whole(
    upstream: UpstreamProfile,
    completion: Completion,
    fault: Fault | None,
    rec: RecordedRequest,
    headers: dict[str, str],
) -> Response:
    """A non-streamed answer, or the fault that breaks it."""
    if fault is not None and fault.kind == "drop":
        rec.outcome = "fault"
        return StreamingResponse(
            dropped_body(),
            media_type="application/json",
            headers={**headers, "content-length": "4096"},
        )
    if fault is not None and fault.kind == "malformed":
        rec.outcome = "fault"
        cid = upstream.completion_id(completion.number)
        return Response(
            '{"id": "' + cid + '", "object": "chat.completion", "choices": [',
            media_type="application/json",
            headers=headers,
        )
    rec.outcome = "completed"
    return JSONResponse(upstream.completion_body(completion), headers=headers)
