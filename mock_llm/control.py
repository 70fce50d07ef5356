"""The fake's own API under /_mock/: the request log, the fault schedule, scripted answers,
reset, and the server's settings (latency, upstream profile)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import LATENCIES
from .errors import bad_control_request
from .faults import Fault, Rule
from .intake import config_of, state_of
from .profiles import PROFILES

_RULE_FIELDS = ("count", "rate", "seed", "endpoint", "model")


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_control_request("the body must be JSON") from None
    if not isinstance(body, dict):
        raise bad_control_request("the body must be a JSON object")
    return body


async def get_requests(request: Request) -> Response:
    return JSONResponse([vars(r) for r in state_of(request).requests])


async def delete_requests(request: Request) -> Response:
    state_of(request).clear_log()
    return Response(status_code=204)


async def get_faults(request: Request) -> Response:
    return JSONResponse(state_of(request).rules())


async def post_fault(request: Request) -> Response:
    d = await _json_object(request)
    try:
        fault = Fault(
            str(d.pop("kind")),
            retry_after=d.pop("retry_after", None),
            after_chunks=int(d.pop("after_chunks", 2)),
            hang_s=d.pop("hang_s", None),
        )
        rule = state_of(request).add_rule(Rule(fault, **{k: d[k] for k in _RULE_FIELDS if k in d}))
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_control_request(f"bad fault rule: {exc}") from None
    return JSONResponse(rule.describe(), status_code=201)


async def delete_faults(request: Request) -> Response:
    state_of(request).clear_faults()
    return Response(status_code=204)


async def post_answer(request: Request) -> Response:
    d = await _json_object(request)
    try:
        state_of(request).script_answer(str(d["text"]), int(d.get("count", 1)))
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_control_request(f"bad scripted answer: {exc}") from None
    return Response(status_code=204)


async def post_reset(request: Request) -> Response:
    state_of(request).reset()
    return Response(status_code=204)


async def get_config(request: Request) -> Response:
    config = config_of(request)
    return JSONResponse(
        {
            "latency": config.latency,
            "profile": config.profile,
            "upstream": config.upstream.describe(),
            "context_length": config.effective_context_length,
            "models": {k: asdict(v) for k, v in config.served_models.items()},
        }
    )


async def put_config(request: Request) -> Response:
    """Change `latency` and/or `profile` (which brings that upstream's models)."""
    d = await _json_object(request)
    if not {"latency", "profile"} & d.keys():
        raise bad_control_request("give latency and/or profile")
    if "latency" in d and d["latency"] not in LATENCIES:
        raise bad_control_request("latency must be 'zero' or 'realistic'")
    if "profile" in d and d["profile"] not in PROFILES:
        raise bad_control_request(f"profile must be one of {', '.join(PROFILES)}")
    config = config_of(request)
    if "profile" in d:
        config.use_profile(d["profile"])
    if "latency" in d:
        config.latency = d["latency"]
    return await get_config(request)


routes = [
    Route("/_mock/requests", get_requests, methods=["GET"]),
    Route("/_mock/requests", delete_requests, methods=["DELETE"]),
    Route("/_mock/faults", get_faults, methods=["GET"]),
    Route("/_mock/faults", post_fault, methods=["POST"]),
    Route("/_mock/faults", delete_faults, methods=["DELETE"]),
    Route("/_mock/answers", post_answer, methods=["POST"]),
    Route("/_mock/reset", post_reset, methods=["POST"]),
    Route("/_mock/config", get_config, methods=["GET"]),
    Route("/_mock/config", put_config, methods=["PUT"]),
]
