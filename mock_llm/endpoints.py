"""The small endpoints: POST /v1/moderations and GET /v1/models[/{id}]. A route the
imitated upstream does not have answers as that server answers an unknown route."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import moderation
from .errors import MockError, openai_error_body
from .intake import apply_fault, config_of, read_json
from .stream import dropped_body


async def moderations(request: Request) -> Response:
    """OpenAI's moderation endpoint, answered by the local classifier."""
    config = config_of(request)
    if not config.upstream.has_moderations:
        raise config.upstream.route_not_found(request.method, request.url.path)
    body, rec = await read_json(request, "/v1/moderations")
    texts = moderation_inputs(body)
    fault = await apply_fault(request, "moderations", None, rec)
    if fault is not None and fault.kind in ("drop", "malformed"):
        rec.status, rec.outcome = 200, "fault"
        if fault.kind == "drop":
            return StreamingResponse(
                dropped_body(), media_type="application/json", headers={"content-length": "4096"}
            )
        return Response('{"id": "modr-broken", "results": [', media_type="application/json")
    rec.status, rec.outcome = 200, "completed"
    number = next(request.app.state.completion_numbers)
    asked = body.get("model") if isinstance(body, dict) else None  # a dict: inputs were read
    return JSONResponse(
        {
            "id": f"modr-mock{number:06d}",
            "model": asked or config.moderation_model,
            "results": [moderation.classify(t) for t in texts],
        }
    )


def moderation_inputs(body: object) -> list[str]:
    """The texts to classify; a 400 for anything else."""
    if not isinstance(body, dict) or "input" not in body:
        raise _bad_input("you must provide an input parameter")
    inp = body["input"]
    if isinstance(inp, str):
        return [inp]
    if isinstance(inp, list) and inp and all(isinstance(i, str) for i in inp):
        return list(inp)  # one result per string
    if isinstance(inp, list) and inp and all(isinstance(i, dict) for i in inp):
        # content parts (text and images) are one input, as in OpenAI's API: one result
        return [" ".join(str(i.get("text", "")) for i in inp if i.get("type") == "text")]
    raise _bad_input("input must be a string, an array of strings or of content parts")


def _bad_input(message: str) -> MockError:
    return MockError(400, openai_error_body(400, message, param="input"))


async def list_models(request: Request) -> Response:
    config = config_of(request)
    return JSONResponse(config.upstream.model_list(config.served_models))


async def get_model(request: Request) -> Response:
    config = config_of(request)
    name = request.path_params["model"]
    return JSONResponse(config.upstream.retrieve_model(name, config.served_models))
