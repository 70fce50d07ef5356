"""The lecture's four probes and its detailed health check, with the lab's drain states.

/health: the lecture's basic check (status ok/starting, and the time), always 200.
/livez: liveness, `{"alive": true}` while the event loop answers.
/ready, /readyz: readiness; 503 + Retry-After while starting or draining.
/health/detailed: the lecture's checks by name, as booleans (api_client, ready, cache) plus
the upstream's; 503 when any is false. Public, so it says nothing more; with the admin token
(`Authorization: Bearer <ADMIN_TOKEN>`) it adds each check's latency and error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..context import context_of
from ..deps import LifecycleDep, OptionalServicesDep, SettingsDep
from ..errors import error_body
from ..lifecycle import PROBE, Lifecycle
from ..services import Services
from .admin import is_admin

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


def _state(lifecycle: Lifecycle) -> str:
    return "ok" if lifecycle.ready else "draining" if lifecycle.draining else "starting"


@router.get("/health", openapi_extra=PROBE)
async def health(lifecycle: LifecycleDep) -> dict[str, Any]:
    """The lecture's basic check: "ok" when ready, "starting" before (and, in the lab,
    "draining" during a shutdown), with the server's time. Always 200."""
    return {"status": _state(lifecycle), "timestamp": time.time()}


@router.get("/livez", openapi_extra=PROBE)
async def livez() -> dict[str, bool]:
    """Liveness: answers as long as the event loop does."""
    return {"alive": True}


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "starting or draining (with Retry-After)"}
}


def _not_ready(lifecycle: Lifecycle, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        body, status_code=503, headers={"Retry-After": str(lifecycle.retry_after_s)}
    )


@router.get("/ready", responses=_NOT_READY, openapi_extra=PROBE)
async def ready(
    request: Request, lifecycle: LifecycleDep, services: OptionalServicesDep
) -> JSONResponse:
    """Readiness, the lecture's form: `{"status": "ready"}`, or 503 "Service not ready"."""
    if lifecycle.ready:
        body: dict[str, Any] = {"status": "ready"}
        if services is not None:  # what the guards will use (the lab's; not the lecture's)
            body["moderation"] = services.moderator.mode
        return JSONResponse(body)
    ctx = context_of(request.scope)
    body = error_body("not_ready", "Service not ready", ctx.request_id if ctx else None)
    return _not_ready(lifecycle, {"status": _state(lifecycle), **body})


@router.get("/readyz", responses=_NOT_READY, openapi_extra=PROBE)
async def readyz(lifecycle: LifecycleDep) -> JSONResponse:
    """Readiness for Kubernetes: `{"ready": true}`, or 503 `{"ready": false, "status"}`."""
    if lifecycle.ready:
        return JSONResponse({"ready": True})
    return _not_ready(lifecycle, {"ready": False, "status": _state(lifecycle)})


async def _check(coro: Awaitable[Any]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            detail = await coro
        ok, error = True, None
    except Exception as exc:  # any failure is the answer of the check, not an error of ours
        ok, error, detail = False, f"{type(exc).__name__}: {exc}"[:200], None
    out: dict[str, Any] = {"ok": ok, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}
    if detail is not None:
        out["detail"] = detail
    if error:
        out["error"] = error
    return out


@router.get(
    "/health/detailed",
    openapi_extra=PROBE,
    responses={503: {"description": "degraded: a dependency is down, or not ready"}},
)
async def detailed(
    request: Request, lifecycle: LifecycleDep, settings: SettingsDep, services: OptionalServicesDep
) -> JSONResponse:
    """Each dependency as a boolean (the lecture's names first); 503 when any is false."""
    cache: dict[str, Any] = {"ok": False}
    models: dict[str, Any] = {"ok": False}
    moderation: dict[str, Any] = {"ok": False}
    if services is not None:
        cache, models, moderation = await asyncio.gather(
            _check(_ping(services)), _check(_models(services)), _check(_moderation(services))
        )
    checks = {
        "api_client": services is not None,
        "ready": lifecycle.ready,
        "cache": cache["ok"],
        "upstream": models["ok"],
        "moderation": moderation["ok"],
    }
    healthy = all(checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "checks": checks}
    if is_admin(request, settings):
        body["details"] = {
            "cache": cache,
            "upstream": models,
            "moderation": moderation,
            "draining": lifecycle.draining,
            "inflight": lifecycle.inflight,
        }
    return JSONResponse(body, status_code=200 if healthy else 503)


async def _ping(services: Services) -> str:
    await services.redis.ping()
    return "embedded fakeredis" if services.settings.redis_url is None else "redis"


async def _moderation(services: Services) -> dict[str, Any]:
    """Moderation's mode, and whether it answers (a live probe when it is the upstream's)."""
    if not await services.moderator.check(CHECK_TIMEOUT_S):
        raise ConnectionError(f"moderation ({services.moderator.mode}) does not answer")
    return {"mode": services.moderator.mode}


async def _models(services: Services) -> dict[str, Any]:
    models = await services.upstream.list_models(CHECK_TIMEOUT_S)
    if services.missing_models:  # reachable, but it cannot serve every configured model
        raise LookupError(f"not served: {', '.join(services.missing_models)}")
    return {"base_url": services.upstream.base_url, "models": models[:10]}
