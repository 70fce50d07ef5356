"""Conversations stay on the model they were first routed to.

A conversation is named by its tenant and its first user message (which every later
request repeats at the head of its history); the model chosen for it is kept in Redis with
a TTL, so every worker and replica sends the rest of the conversation to the same model.
If Redis is down the request is simply routed afresh.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..redis_client import as_text


class StickyRoutes:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    @staticmethod
    def key(tenant: str, first_user_message: str) -> str:
        digest = hashlib.sha256(f"{tenant}\0{first_user_message}".encode()).hexdigest()[:32]
        return f"route:{digest}"

    async def get(self, key: str) -> str | None:
        try:
            value: bytes | str | None = await self.redis.get(key)
        except RedisError:
            return None
        return as_text(value)

    async def set(self, key: str, model: str, *, first: bool = True) -> None:
        """Keep the conversation's model: only if none is kept yet (`first`), or in place
        of the one kept (the cache answered its first turn from the other model)."""
        try:
            await self.redis.set(key, model, ex=self.ttl_s, nx=first)
        except RedisError:
            pass
