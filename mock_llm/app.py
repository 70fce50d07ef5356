"""The fake OpenAI HTTP API: chat completions (with streaming and usage), moderations,
models, plus `/_mock/*` endpoints to inject faults, script answers and read the request log.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference_service.tokens import count_chat_tokens, message_text, split_tokens

from . import knowledge, moderation
from .config import MockConfig, ModelProfile
from .faults import Fault, MockState, RecordedRequest, Rule

ROLES = {"system", "developer", "user", "assistant", "tool"}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 408: "timeout", 409: "conflict_error",
                422: "invalid_request_error", 429: "rate_limit_exceeded"}
_REDACTED_HEADERS = {"authorization", "api-key", "cookie"}


class DropConnection(Exception):
    """Raised inside a response body to make the server cut the connection."""


class _HideInjectedDrops(logging.Filter):
    """uvicorn logs a traceback for every dropped connection; an injected one is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DropConnection):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def openai_error(status: int, message: str, *, param: str | None = None,
                 code: str | None = None, headers: dict | None = None) -> JSONResponse:
    err_type = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return JSONResponse({"error": {"message": message, "type": err_type, "param": param,
                                   "code": code}}, status_code=status, headers=headers)


class Timing:
    """When each token is due, relative to the start of the request."""

    def __init__(self, profile: ModelProfile, config: MockConfig, headers) -> None:
        zero = headers.get("x-mock-latency", config.latency) == "zero"
        self.ttft = 0.0 if zero else float(headers.get("x-mock-ttft-ms", profile.ttft_ms)) / 1000
        tps = float(headers.get("x-mock-tps", profile.tokens_per_s))
        self.per_token = 0.0 if zero or tps <= 0 else 1.0 / tps
        self.start = asyncio.get_running_loop().time()

    async def until(self, offset: float) -> None:
        delay = self.start + offset - asyncio.get_running_loop().time()
        # sleep(0) still yields, so even at zero latency a disconnect is noticed
        await asyncio.sleep(max(delay, 0.0))

    def token_due(self, i: int) -> float:
        return self.ttft + i * self.per_token


def create_app(config: MockConfig | None = None, state: MockState | None = None) -> Starlette:
    """Build the fake OpenAI server. `state` holds faults, scripted answers and the log."""
    config = config or MockConfig()
    state = state or MockState()
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideInjectedDrops) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_HideInjectedDrops())
    ids = itertools.count(1)

    async def read_json(request: Request, rec_path: str) -> tuple[object, RecordedRequest | Response]:
        raw = await request.body()
        headers = {k: v for k, v in request.headers.items() if k not in _REDACTED_HEADERS}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            state.record(request.method, rec_path, headers, raw.decode("utf-8", "replace"))
            return None, openai_error(400, "We could not parse the JSON body of your request.")
        return body, state.record(request.method, rec_path, headers, body)

    def pick_fault(request: Request, endpoint: str, model: str | None) -> Fault | None:
        kind = request.headers.get("x-mock-fault")
        if kind:
            ra = request.headers.get("x-mock-retry-after")
            return Fault(kind, retry_after=float(ra) if ra else None,
                         after_chunks=int(request.headers.get("x-mock-fault-after-chunks", 2)))
        return state.next_fault(endpoint, model)

    def status_fault(fault: Fault, rec: RecordedRequest) -> Response:
        status = int(fault.kind)
        rec.status, rec.outcome = status, "fault"
        headers = {}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
            headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
        msg = {429: "Rate limit reached for requests (injected by mock_llm).",
               503: "The server is overloaded (injected by mock_llm)."}.get(
            status, f"Injected fault: HTTP {status}.")
        return openai_error(status, msg, code=f"mock_fault_{status}", headers=headers)

    async def hang(request: Request, fault: Fault, rec: RecordedRequest) -> bool:
        """Hold the request open; True if the client went away meanwhile."""
        loop = asyncio.get_running_loop()
        until = loop.time() + (fault.hang_s if fault.hang_s is not None else config.hang_s)
        while loop.time() < until:
            if await request.is_disconnected():
                rec.outcome = "client_disconnected"
                return True
            await asyncio.sleep(0.02)
        return False

    async def apply_fault(request: Request, endpoint: str, model: str | None,
                          rec: RecordedRequest) -> tuple[Fault | None, Response | None]:
        """This request's fault, and the response when the fault is the whole answer
        (an error status, or a hang the client gave up on)."""
        try:
            fault = pick_fault(request, endpoint, model)
        except ValueError as exc:
            return None, openai_error(400, str(exc), param="x-mock-fault")
        rec.fault = fault.kind if fault else None
        if fault and fault.kind.isdigit():
            return fault, status_fault(fault, rec)
        if fault and fault.kind == "hang" and await hang(request, fault, rec):
            return fault, Response(status_code=499)
        return fault, None

    async def chat_completions(request: Request) -> Response:
        body, rec = await read_json(request, "/v1/chat/completions")
        if isinstance(rec, Response):
            return rec
        error = validate_chat(body)
        if error:
            rec.status, rec.outcome = 400, "error"
            return openai_error(400, error[1], param=error[0])
        model = body["model"]
        profile = config.models.get(model)
        if profile is None:
            rec.status, rec.outcome = 404, "error"
            return openai_error(404, f"The model `{model}` does not exist or you do not have "
                                     "access to it.", param="model", code="model_not_found")
        fault, early = await apply_fault(request, "chat", model, rec)
        if early is not None:
            return early
        timing = Timing(profile, config, request.headers)

        messages = body["messages"]
        text = (state.next_scripted_answer() or request.headers.get("x-mock-answer")
                or knowledge.answer([message_text(m) for m in messages if m.get("role") == "user"],
                                    model, profile.detailed))
        pieces = split_tokens(text)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if limit and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        prompt_tokens = count_chat_tokens(messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                 "total_tokens": prompt_tokens + len(pieces),
                 "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0,
                                               "rejected_prediction_tokens": 0}}
        cid = f"chatcmpl-mock{next(ids):06d}"
        created = int(time.time())
        headers = {"x-request-id": f"req_mock_{rec.id}", "openai-processing-ms": "0",
                   "x-mock-model": model}

        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            gen = stream_chunks(cid, created, model, pieces, finish, usage, include_usage,
                                timing, fault, rec)
            rec.status = 200
            return StreamingResponse(gen, media_type="text/event-stream", headers=headers)

        await timing.until(timing.token_due(len(pieces)))
        if fault and fault.kind == "drop":
            rec.status, rec.outcome = 200, "fault"
            return StreamingResponse(dropped_body(), media_type="application/json",
                                     headers={**headers, "content-length": "4096"})
        if fault and fault.kind == "malformed":
            rec.status, rec.outcome = 200, "fault"
            return Response('{"id": "' + cid + '", "object": "chat.completion", "choices": [',
                            media_type="application/json", headers=headers)
        rec.status, rec.outcome = 200, "completed"
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces),
                                                 "refusal": None, "annotations": []},
                         "logprobs": None, "finish_reason": finish}],
            "usage": usage, "service_tier": "default",
        }, headers=headers)

    async def stream_chunks(cid, created, model, pieces, finish, usage, include_usage,
                            timing: Timing, fault: Fault | None,
                            rec: RecordedRequest) -> AsyncIterator[bytes]:
        def chunk(delta: dict, finish_reason=None, choices=True, with_usage=None) -> bytes:
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created,
                   "model": model, "system_fingerprint": "fp_mock",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                "finish_reason": finish_reason}] if choices else []}
            if include_usage:
                obj["usage"] = with_usage
            return f"data: {json.dumps(obj)}\n\n".encode()

        sent = 0
        try:
            await timing.until(timing.ttft)
            frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
            frames += [chunk({"content": p}) for p in pieces]
            for i, frame in enumerate(frames):
                if fault and fault.kind in ("drop", "malformed") and sent >= fault.after_chunks:
                    rec.outcome = "fault"
                    if fault.kind == "malformed":
                        yield b'data: {"id": "' + cid.encode() + b'", "choices": [{"delta": \n\n'
                        return
                    raise DropConnection("mock_llm: injected connection drop")
                if i > 0:
                    await timing.until(timing.token_due(i - 1))
                yield frame
                sent += 1
            yield chunk({}, finish_reason=finish)
            if include_usage:
                yield chunk({}, choices=False, with_usage=usage)
            yield b"data: [DONE]\n\n"
            rec.outcome = "completed"
        except asyncio.CancelledError:
            rec.outcome = "client_disconnected"
            raise

    async def moderations(request: Request) -> Response:
        body, rec = await read_json(request, "/v1/moderations")
        if isinstance(rec, Response):
            return rec
        texts = moderation_inputs(body)
        if isinstance(texts, str):
            rec.status, rec.outcome = 400, "error"
            return openai_error(400, texts, param="input")
        fault, early = await apply_fault(request, "moderations", None, rec)
        if early is not None:
            return early
        if fault and fault.kind in ("drop", "malformed"):
            rec.status, rec.outcome = 200, "fault"
            if fault.kind == "drop":
                return StreamingResponse(dropped_body(), media_type="application/json",
                                         headers={"content-length": "4096"})
            return Response('{"id": "modr-broken", "results": [', media_type="application/json")
        rec.status, rec.outcome = 200, "completed"
        return JSONResponse({"id": f"modr-mock{next(ids):06d}",
                             "model": body.get("model") or config.moderation_model,
                             "results": [moderation.classify(t) for t in texts]})

    async def list_models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [model_obj(m) for m in config.models]})

    async def get_model(request: Request) -> Response:
        name = request.path_params["model"]
        if name not in config.models:
            return openai_error(404, f"The model `{name}` does not exist.", param="model",
                                code="model_not_found")
        return JSONResponse(model_obj(name))

    # -- control endpoints -------------------------------------------------------------
    async def get_requests(request: Request) -> Response:
        return JSONResponse([vars(r) for r in state.requests])

    async def delete_requests(request: Request) -> Response:
        state.clear_log()
        return Response(status_code=204)

    async def get_faults(request: Request) -> Response:
        return JSONResponse(state.rules())

    async def post_fault(request: Request) -> Response:
        try:
            d = await request.json()
            fault = Fault(str(d.pop("kind")), retry_after=d.pop("retry_after", None),
                          after_chunks=int(d.pop("after_chunks", 2)), hang_s=d.pop("hang_s", None))
            rule = state.add_rule(Rule(fault, **{k: d[k] for k in
                                                 ("count", "rate", "seed", "endpoint", "model")
                                                 if k in d}))
        except (ValueError, KeyError, TypeError) as exc:
            return openai_error(400, f"bad fault rule: {exc}")
        return JSONResponse(rule.describe(), status_code=201)

    async def delete_faults(request: Request) -> Response:
        state.clear_faults()
        return Response(status_code=204)

    async def post_answer(request: Request) -> Response:
        try:
            d = await request.json()
            state.script_answer(str(d["text"]), int(d.get("count", 1)))
        except (ValueError, KeyError, TypeError) as exc:
            return openai_error(400, f"bad scripted answer: {exc}")
        return Response(status_code=204)

    async def post_reset(request: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    async def config_endpoint(request: Request) -> Response:
        if request.method == "PUT":
            d = await request.json()
            if d.get("latency") not in ("zero", "realistic"):
                return openai_error(400, "latency must be 'zero' or 'realistic'")
            config.latency = d["latency"]
        return JSONResponse({"latency": config.latency,
                             "models": {k: vars(v) for k, v in config.models.items()}})

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/moderations", moderations, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/_mock/requests", get_requests, methods=["GET"]),
        Route("/_mock/requests", delete_requests, methods=["DELETE"]),
        Route("/_mock/faults", get_faults, methods=["GET"]),
        Route("/_mock/faults", post_fault, methods=["POST"]),
        Route("/_mock/faults", delete_faults, methods=["DELETE"]),
        Route("/_mock/answers", post_answer, methods=["POST"]),
        Route("/_mock/reset", post_reset, methods=["POST"]),
        Route("/_mock/config", config_endpoint, methods=["GET", "PUT"]),
    ])
    app.state.mock = state
    app.state.config = config
    return app


async def dropped_body() -> AsyncIterator[bytes]:
    yield b'{"id": "chatcmpl-dropped", "object": "chat.co'
    raise DropConnection("mock_llm: injected connection drop")


def model_obj(name: str) -> dict:
    return {"id": name, "object": "model", "created": 1715367049, "owned_by": "mock_llm"}


def validate_chat(body: object) -> tuple[str, str] | None:
    """(param, message) of the first problem in a chat request body, or None."""
    if not isinstance(body, dict):
        return "body", "The request body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model", "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages", "'messages' must be a non-empty array."
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return f"messages.[{i}].role", f"Invalid value for 'messages[{i}].role'."
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            return f"messages.[{i}].content", f"Invalid type for 'messages[{i}].content'."
    for key in ("max_tokens", "max_completion_tokens"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            return key, f"'{key}' must be a positive integer."
    return None


def moderation_inputs(body: object) -> list[str] | str:
    """The texts to classify, or an error message."""
    if not isinstance(body, dict) or "input" not in body:
        return "you must provide an input parameter"
    inp = body["input"]
    if isinstance(inp, str):
        return [inp]
    if isinstance(inp, list) and inp and all(isinstance(i, str) for i in inp):
        return list(inp)  # one result per string
    if isinstance(inp, list) and inp and all(isinstance(i, dict) for i in inp):
        # content parts (text and images) are one input, as in OpenAI's API: one result
        return [" ".join(str(i.get("text", "")) for i in inp if i.get("type") == "text")]
    return "input must be a string, an array of strings or of content parts"
