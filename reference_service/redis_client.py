"""The Redis connection: real Redis from REDIS_URL, else an embedded fakeredis."""

from __future__ import annotations

import redis.asyncio as redis

from .config import Settings


def make_redis(settings: Settings) -> redis.Redis:
    """A client for REDIS_URL; unset, an in-process fakeredis (one process, not shared)."""
    if settings.redis_url:
        return redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0,
                              health_check_interval=10)
    import fakeredis  # only the embedded default needs it

    return fakeredis.FakeAsyncRedis()
