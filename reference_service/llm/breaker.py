"""A circuit breaker per upstream model.

closed --(N consecutive failed calls)--> open --(cooldown)--> half-open: exactly one probe
call goes through; its success closes the breaker, its failure re-opens it. While open
(or while the probe is out) calls are refused at once with 503 + Retry-After, without
touching the upstream.

What counts as a failure is the caller's decision (see resilient.py): upstream 5xx,
429, timeouts and broken connections count; a client's bad request, a moderation block
or a client that went away do not. Each upstream *call* counts, retries included: the
breaker protects the upstream from calls, and an open breaker also stops the retries.

State is per process here. (Sharing it across workers through Redis is still to come.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..clock import Clock
from ..errors import CircuitOpen

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_s: float = 30.0


class CircuitBreaker:
    def __init__(self, name: str, clock: Clock, config: BreakerConfig) -> None:
        self.name = name
        self.clock = clock
        self.config = config
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probe_out = False
        self.transitions: list[tuple[float, str]] = []  # (time, new state), for plots and tests

    def allow(self) -> bool:
        """Take a call slot, or raise CircuitOpen. Returns True when this call is the probe."""
        if self.state == CLOSED:
            return False
        now = self.clock.monotonic()
        if self.state == OPEN and now - self.opened_at >= self.config.cooldown_s:
            self._move(HALF_OPEN)
        if self.state == HALF_OPEN and not self.probe_out:
            self.probe_out = True
            return True
        wait = max(1, math.ceil(self.opened_at + self.config.cooldown_s - now))
        raise CircuitOpen(f"The upstream for {self.name} is failing; calls are paused "
                          f"for {wait} s (circuit breaker open).", retry_after=wait)

    def record_success(self, probe: bool = False) -> None:
        self.failures = 0
        if probe:
            self.probe_out = False
        if self.state != CLOSED:
            self._move(CLOSED)

    def record_failure(self, probe: bool = False) -> None:
        if probe or self.state == HALF_OPEN:
            self.probe_out = False
            self._open()
            return
        self.failures += 1
        if self.state == CLOSED and self.failures >= self.config.failure_threshold:
            self._open()

    def release(self, probe: bool) -> None:
        """The call ended without a verdict (client gone, bad request): free the probe slot."""
        if probe:
            self.probe_out = False

    def _open(self) -> None:
        self.opened_at = self.clock.monotonic()
        self._move(OPEN)

    def _move(self, state: str) -> None:
        self.state = state
        self.transitions.append((self.clock.monotonic(), state))


class BreakerRegistry:
    """One breaker per upstream model, created on first use."""

    def __init__(self, clock: Clock, config: BreakerConfig) -> None:
        self.clock = clock
        self.config = config
        self._breakers: dict[str, CircuitBreaker] = {}

    def for_model(self, model: str) -> CircuitBreaker:
        breaker = self._breakers.get(model)
        if breaker is None:
            breaker = self._breakers[model] = CircuitBreaker(model, self.clock, self.config)
        return breaker

    def reset(self) -> None:
        self._breakers.clear()

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self._breakers.items()}
