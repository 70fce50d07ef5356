"""The service's Redis client (redis_client.make_redis) against a real Redis 8."""

from __future__ import annotations

import asyncio

from tests.support import make_settings


async def test_new_connections_do_not_read_the_package_metadata(redis_url, monkeypatch):
    """redis-py looked its own version up (importlib.metadata, ~0.5 ms) for every connection
    its pool opened; the client now gives it once. Redis is told the same name and version."""
    import redis.utils

    from reference_service.redis_client import make_redis

    client = make_redis(make_settings(redis_url=redis_url))
    lookups: list[str] = []
    version = redis.utils.metadata.version
    monkeypatch.setattr(
        redis.utils.metadata, "version", lambda name: lookups.append(name) or version(name)
    )
    try:
        await asyncio.gather(*(client.ping() for _ in range(5)))  # the pool opens several
        listed = await client.client_list()
    finally:
        await client.aclose()
    assert lookups == []
    ours = [c for c in listed if c.get("lib-name")]
    assert ours
    assert all(c["lib-name"] == "redis-py" and c["lib-ver"] == version("redis") for c in ours)
