"""Time as a dependency: the service reads the clock and sleeps only through a Clock,
so tests can substitute a fake one and never sleep."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def time(self) -> float:
        """Wall-clock seconds: for state shared with other processes (Redis)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.perf_counter()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock for tests that skips time instead of waiting for it.

    It follows real time (so measured latencies stay real), but `sleep(s)` returns at once,
    records `s` and moves the clock forward by `s`; `advance(s)` jumps forward too. A test
    of backoff, Retry-After or a breaker cooldown asserts what the service would have
    waited, without waiting.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return time.perf_counter() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
