"""CACHE_ENABLED=false: a cache that holds nothing, so the pipeline needs no special case."""

from __future__ import annotations

from typing import Any

from .store import Lookup


class NoCache:
    async def lookup(self, scope: str, question: str) -> Lookup:
        return Lookup("BYPASS")

    async def store(self, scope: str, question: str, answer: str, **kw: Any) -> None:
        return None

    async def clear(self) -> int:
        return 0
