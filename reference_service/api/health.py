"""Probes. /health and /livez: the process is alive. /ready and /readyz: send it traffic
(503 while starting or draining). /health/detailed: checks Redis and the upstream."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..deps import LifecycleDep

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


@router.get("/health")
@router.get("/livez")
async def live() -> dict:
    """Liveness: answers as long as the event loop does."""
    return {"status": "ok"}


_NOT_READY = {503: {"description": "starting or draining (with Retry-After)"}}


@router.get("/ready", responses=_NOT_READY)
@router.get("/readyz", responses=_NOT_READY)
async def ready(lifecycle: LifecycleDep) -> JSONResponse:
    """Readiness: 200 when taking traffic, 503 + Retry-After while starting or draining."""
    if lifecycle.ready:
        return JSONResponse({"status": "ready"})
    status = "draining" if lifecycle.draining else "starting"
    return JSONResponse({"status": status}, status_code=503,
                        headers={"Retry-After": str(lifecycle.retry_after_s)})


async def _check(coro) -> dict:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            detail = await coro
        ok, error = True, None
    except Exception as exc:  # any failure is the answer of the check, not an error of ours
        ok, error, detail = False, f"{type(exc).__name__}: {exc}"[:200], None
    out = {"status": "ok" if ok else "down",
           "latency_ms": round((time.perf_counter() - start) * 1000, 2)}
    if detail is not None:
        out["detail"] = detail
    if error:
        out["error"] = error
    return out


@router.get("/health/detailed", responses={503: {"description": "degraded: a dependency is "
                                                                  "down, or not ready"}})
async def detailed(request: Request, lifecycle: LifecycleDep) -> JSONResponse:
    """Each dependency's state; 503 when any is down or the service is not ready."""
    state = request.app.state

    async def redis_check():
        await state.redis.ping()
        return "embedded fakeredis" if state.settings.redis_url is None else "redis"

    async def upstream_check():
        models = await state.upstream.list_models(CHECK_TIMEOUT_S)
        return {"base_url": state.upstream.base_url, "models": models[:10]}

    redis, upstream = await asyncio.gather(_check(redis_check()), _check(upstream_check()))
    checks = {"redis": redis, "upstream": upstream}
    healthy = lifecycle.ready and all(c["status"] == "ok" for c in checks.values())
    body = {"status": "ok" if healthy else "degraded", "ready": lifecycle.ready,
            "draining": lifecycle.draining, "inflight": lifecycle.inflight, "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)
