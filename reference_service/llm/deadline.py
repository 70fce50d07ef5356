"""A request's deadline, read through the injectable clock."""

from __future__ import annotations

from ..clock import Clock


class Deadline:
    """`seconds` from now on `clock`; every retry, backoff and upstream wait fits inside it."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.at = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0
