"""Remembered verdicts on texts, by the text's SHA-256: what the PII analyzer found in a
text, what moderation said of it. An exact repeat (a question asked again, the earlier turns
of a conversation re-sent with every new turn) then costs a hash, not a Presidio pass or a
moderation call.

Only the digest is kept, never the text: the memo holds no personal data, only where in
the text the analyzer found some (offsets and types) or a moderation verdict. Each entry
belongs to a scope (the tenant): a tenant's repeat is fast, another tenant's text is not,
so response times cannot tell one tenant what another has sent. Bounded
(least recently used out); an entry can expire on the injectable clock (moderation's
verdict can change when its model does; the analyzer's cannot, so its entries do not).
cachetools does the bookkeeping; the lock makes it safe from the worker threads the PII pass
runs in.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Generic, TypeVar

from cachetools import Cache, LRUCache, TTLCache

from .clock import Clock

V = TypeVar("V")


_MISSING = object()


def digest(text: str, scope: str = "") -> bytes:
    # surrogatepass: a JSON body may carry a lone surrogate ("\ud800"); it still hashes
    return hashlib.sha256(f"{scope}\0{text}".encode("utf-8", "surrogatepass")).digest()


class TextMemo(Generic[V]):
    """`size` 0 turns it off (nothing is kept, every get misses)."""

    def __init__(self, size: int, ttl_s: float | None = None, clock: Clock | None = None) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._data: Cache[bytes, V] | None = None
        if size > 0 and ttl_s is not None:
            if clock is None:
                raise ValueError("an expiring memo reads the clock: pass one")
            self._data = TTLCache[bytes, V, float](size, ttl_s, timer=clock.monotonic)
        elif size > 0:
            self._data = LRUCache[bytes, V](size)

    def get(self, text: str, scope: str = "") -> tuple[bool, V | None]:
        """(True, value) if this exact text is remembered in this scope, else (False, None)."""
        if self._data is None:
            return False, None
        key = digest(text, scope)
        with self._lock:  # one read: an entry cannot expire between a test and a fetch
            value = self._data.get(key, _MISSING)
        if value is _MISSING:
            return False, None
        return True, value  # type: ignore[return-value]

    def put(self, text: str, value: V, scope: str = "") -> None:
        if self._data is None:
            return
        key = digest(text, scope)
        with self._lock:
            self._data[key] = value

    def clear(self) -> None:
        if self._data is not None:
            with self._lock:
                self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return 0 if self._data is None else len(self._data)
