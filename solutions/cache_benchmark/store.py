"""A dict-based stand-in for Redis: the five commands the lecture's SemanticCache uses.

The lecture allows it ("mock Redis with a dict-based in-memory store"): with it, the
benchmark needs no Redis server. It answers as redis-py does: values come back as bytes,
lists are lists of bytes, and a key set with SETEX is gone once its TTL has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def _to_bytes(value) -> bytes:
    """What redis-py sends for a value: bytes as they are, anything else as UTF-8 text."""
    return value if isinstance(value, bytes) else str(value).encode()


class InMemoryRedis:
    """SETEX, GET, RPUSH, LRANGE, LLEN (and PING) on two dicts.

    `clock` gives the time in seconds (time.monotonic by default): expiry is checked
    against it, so a test can move it instead of waiting.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.strings: dict[str, tuple[bytes, float]] = {}  # key -> (value, expires at)
        self.lists: dict[str, list[bytes]] = {}

    def ping(self) -> bool:
        return True

    def setex(self, name: str, time: int, value) -> bool:
        """Set `name` to `value`, to expire `time` seconds from now (redis-py's argument
        order: name, time, value). A TTL that is not positive is an error, as in Redis."""
        # BEGIN SOLUTION: refuse time <= 0 (ValueError); store (bytes, now + time); return True
        if time <= 0:
            raise ValueError(f"invalid expire time in setex: {time}")
        self.strings[name] = (_to_bytes(value), self.clock() + time)
        return True
        # END SOLUTION

    def get(self, name: str) -> bytes | None:
        """The value of `name` as bytes, or None if it was never set or has expired."""
        # BEGIN SOLUTION: None if missing or expired (now >= expires at; drop it), else the bytes
        entry = self.strings.get(name)
        if entry is None:
            return None
        value, expires_at = entry
        if self.clock() >= expires_at:
            del self.strings[name]
            return None
        return value
        # END SOLUTION

    def rpush(self, name: str, *values) -> int:
        """Append `values` (as bytes) to the list `name`; the list's new length."""
        # BEGIN SOLUTION: append each value as bytes; return the new length
        items = self.lists.setdefault(name, [])
        items.extend(_to_bytes(v) for v in values)
        return len(items)
        # END SOLUTION

    def lrange(self, name: str, start: int, end: int) -> list[bytes]:
        """Items `start` to `end` of the list, both included; negative indexes count from
        the end (-1 is the last); out-of-range indexes are clamped; a missing list is []."""
        # BEGIN SOLUTION: turn negative indexes into positive ones, clamp, slice end + 1
        items = self.lists.get(name, [])
        n = len(items)
        if start < 0:
            start = max(n + start, 0)
        if end < 0:
            end = n + end
        return items[start : end + 1] if end >= start else []
        # END SOLUTION

    def llen(self, name: str) -> int:
        """The length of the list `name` (0 if there is none)."""
        # BEGIN SOLUTION: the list's length, 0 when missing
        return len(self.lists.get(name, []))
        # END SOLUTION
