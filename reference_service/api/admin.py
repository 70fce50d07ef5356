"""Admin API, mounted only when ADMIN_TOKEN is set: `Authorization: Bearer <ADMIN_TOKEN>`.

DELETE /admin/cache        clears the response cache
GET    /admin/cache/stats  entries, hits by tier, misses, hit rate, tokens and cost saved
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request

from ..config import Settings
from ..deps import ServicesDep, SettingsDep
from ..errors import CacheDisabled, Forbidden, Unauthorized
from ..schemas import error_doc


def _bearer(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def is_admin(request: Request, settings: Settings) -> bool:
    """Does this request carry the admin token? (False when no ADMIN_TOKEN is set.)"""
    token = settings.admin_token
    given = _bearer(request)
    return bool(
        token and given and hmac.compare_digest(given.encode(), token.get_secret_value().encode())
    )


async def require_admin(request: Request, settings: SettingsDep) -> None:
    if not _bearer(request):
        raise Unauthorized(
            "Admin endpoints need `Authorization: Bearer <ADMIN_TOKEN>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not is_admin(request, settings):
        raise Forbidden("Wrong admin token.")


router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={
        401: error_doc("no bearer token"),
        403: error_doc("wrong token"),
        404: error_doc("the cache is disabled (CACHE_ENABLED=false)"),
    },
)


def _cache(services: ServicesDep) -> Any:
    if not services.settings.cache_enabled:
        raise CacheDisabled("The cache is disabled (CACHE_ENABLED=false).")
    return services.cache


@router.delete("/cache")
async def clear_cache(services: ServicesDep) -> dict[str, Any]:
    deleted = await _cache(services).clear()
    return {"cleared": True, "keys_deleted": deleted}


@router.get("/cache/stats")
async def cache_stats(services: ServicesDep) -> dict[str, Any]:
    stats: dict[str, Any] = await _cache(services).stats()
    return stats
