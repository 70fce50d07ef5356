"""Admin API, mounted only when ADMIN_TOKEN is set: `Authorization: Bearer <ADMIN_TOKEN>`.

DELETE /admin/cache        clears the response cache
GET    /admin/cache/stats  entries, hits by tier, misses, hit rate, tokens and cost saved
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request

from ..errors import ServiceError, Unauthorized
from ..schemas import error_doc


class Forbidden(ServiceError):
    status, type = 403, "forbidden"


def _bearer(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def is_admin(request: Request) -> bool:
    """Does this request carry the admin token? (False when no ADMIN_TOKEN is set.)"""
    token = request.app.state.settings.admin_token
    given = _bearer(request)
    return bool(token and given and hmac.compare_digest(
        given.encode(), token.get_secret_value().encode()))


async def require_admin(request: Request) -> None:
    if not _bearer(request):
        raise Unauthorized("Admin endpoints need `Authorization: Bearer <ADMIN_TOKEN>`.",
                           headers={"WWW-Authenticate": "Bearer"})
    if not is_admin(request):
        raise Forbidden("Wrong admin token.")


class CacheDisabled(ServiceError):
    status, type = 404, "cache_disabled"


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)],
                   responses={401: error_doc("no bearer token"), 403: error_doc("wrong token"),
                              404: error_doc("the cache is disabled (CACHE_ENABLED=false)")})


def _cache(request: Request):
    cache = request.app.state.cache
    if cache is None:
        raise CacheDisabled("The cache is disabled (CACHE_ENABLED=false).")
    return cache


@router.delete("/cache")
async def clear_cache(request: Request) -> dict:
    deleted = await _cache(request).clear()
    return {"cleared": True, "keys_deleted": deleted}


@router.get("/cache/stats")
async def cache_stats(request: Request) -> dict:
    return await _cache(request).stats()
