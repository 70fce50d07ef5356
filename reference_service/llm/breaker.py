"""A circuit breaker per upstream model, its state shared through Redis.

closed --(N consecutive failed calls)--> open --(cooldown)--> half-open: exactly one probe
call goes through; its success closes the breaker, its failure re-opens it. While open
(or while the probe is out) calls are refused at once with 503 + Retry-After, without
touching the upstream.

The state of each model's breaker is one Redis hash, changed only by the Lua scripts below
(atomic), so every worker and replica sees the same breaker: five failures spread over four
workers open it for all of them, and one probe is let through in the whole deployment. The
probe slot is a lease (`probe_lease_s`, the request deadline): a worker that dies holding it
does not wedge the breaker. The embedded fakeredis runs the same scripts (per process).

What counts as a failure is the caller's decision (see resilient.py): upstream 5xx, 429,
timeouts and broken connections count; a client's bad request, a moderation block or a
client that went away do not. Each upstream *call* counts, retries included: the breaker
protects the upstream from calls, and an open breaker also stops the retries.

A worker that reads its breaker closed with no failure counted trusts that view for
`sync_s` (BREAKER_SYNC_S, 0.25 s) before asking Redis again: in the common case a call costs
no round trip at all. The price: after another worker opens the breaker, this one may still
send calls for up to `sync_s`. A failure this worker records ends the trust at once, and
`sync_s=0` asks Redis on every call.

If Redis itself is unreachable the breaker lets calls through (it cannot know better) and
says so once in the log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..clock import Clock
from ..errors import CircuitOpen
from ..outage import OutageLog
from ..redis_client import as_text

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

# KEYS[1]: the breaker hash. ARGV: now (s), cooldown (s), probe lease (s).
# Returns {verdict, retry_after_ms, state[, failures]}: verdict 0 = go, 1 = go as the probe,
# -1 = refused; when closed, the count of failures in a row so far.
ALLOW_LUA = """
local now, cooldown, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then
  return {0, 0, state, tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')}
end
local opened_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
if state == 'open' and now - opened_at >= cooldown then
  state = 'half_open'
  redis.call('HSET', KEYS[1], 'state', state)
end
if state == 'half_open' then
  local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
  if probe_until < now then
    redis.call('HSET', KEYS[1], 'probe_until', tostring(now + lease))
    return {1, 0, state}
  end
end
return {-1, math.ceil(math.max(opened_at + cooldown - now, 0) * 1000), state}
"""

# ARGV: now (s), outcome ('success' | 'failure' | 'release'), probe ('1' | '0'), threshold.
# Returns the state after.
RECORD_LUA = """
local now, outcome, probe = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'
local threshold = tonumber(ARGV[4])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if probe then redis.call('HDEL', KEYS[1], 'probe_until') end
if outcome == 'success' then
  redis.call('HSET', KEYS[1], 'failures', 0, 'state', 'closed')
  return 'closed'
elseif outcome == 'failure' then
  if probe or state == 'half_open' then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now), 'failures', 0)
    return 'open'
  end
  local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if state == 'closed' and failures >= threshold then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now), 'failures', 0)
    return 'open'
  end
end
return state
"""


@dataclass(frozen=True)
class Ticket:
    """A call's slot: whether it is the half-open probe, and whether the breaker was closed
    with no failure counted when it was taken."""

    probe: bool
    clean: bool


@dataclass
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_s: float = 30.0
    probe_lease_s: float = 10.0  # how long a probe may hold its slot (the request deadline)
    sync_s: float = 0.25  # how long a closed, clean view is trusted without asking Redis


class CircuitBreaker:
    """One model's breaker; its state lives in Redis under `breaker:<model>`."""

    def __init__(self, name: str, registry: BreakerRegistry) -> None:
        self.name = name
        self.key = f"breaker:{name}"
        self._r = registry
        self.state = CLOSED  # as last seen by this process
        self.transitions: list[tuple[float, str]] = []  # (clock time, state) seen here
        self._clean_until = -math.inf  # (monotonic) trusted closed and clean until then
        self._records = 0  # outcomes recorded here: one during an ask voids its answer

    async def allow(self) -> Ticket:
        """Take a call slot, or raise CircuitOpen."""
        cfg = self._r.config
        now = self._r.clock.monotonic()
        if now < self._clean_until:
            return Ticket(probe=False, clean=True)
        records = self._records
        try:
            verdict, retry_ms, state, *failures = await self._r.allow_script(
                keys=[self.key], args=[self._r.clock.time(), cfg.cooldown_s, cfg.probe_lease_s]
            )
        except RedisError:
            self._r.outages.failed()
            return Ticket(probe=False, clean=False)
        self._r.outages.succeeded()
        self._saw(as_text(state))
        if int(verdict) >= 0:
            clean = bool(failures) and int(failures[0]) == 0
            if clean and records == self._records:  # nothing recorded here meanwhile
                self._clean_until = now + cfg.sync_s
            return Ticket(probe=int(verdict) == 1, clean=clean)
        wait = max(1, math.ceil(int(retry_ms) / 1000))
        raise CircuitOpen(
            f"The upstream for {self.name} is failing; calls are paused "
            f"for {wait} s (circuit breaker open).",
            retry_after=wait,
        )

    async def record_success(self, probe: bool = False, clean: bool = False) -> None:
        """A call succeeded. `clean`: the breaker was closed with no failure counted when
        the call started, so a success changes nothing and costs no round trip. (A failure
        another worker counts meanwhile is then not reset by this success: across
        concurrent workers "in a row" is approximate either way.)"""
        if clean and not probe:
            return
        await self._record("success", probe)

    async def record_failure(self, probe: bool = False) -> None:
        await self._record("failure", probe)

    async def release(self, probe: bool) -> None:
        """The call ended without a verdict (client gone, bad request): free the probe slot."""
        if probe:
            await self._record("release", probe)

    async def _record(self, outcome: str, probe: bool) -> None:
        self._clean_until = -math.inf  # the next call asks Redis again
        self._records += 1
        try:
            state = await self._r.record_script(
                keys=[self.key],
                args=[
                    self._r.clock.time(),
                    outcome,
                    "1" if probe else "0",
                    self._r.config.failure_threshold,
                ],
            )
        except RedisError:
            self._r.outages.failed()
            return
        self._saw(as_text(state))

    def _saw(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.transitions.append((self._r.clock.monotonic(), state))


class BreakerRegistry:
    """One breaker per upstream model, created on first use, all backed by one Redis."""

    def __init__(self, redis: Redis, clock: Clock, config: BreakerConfig) -> None:
        self.redis = redis
        self.clock = clock
        self.config = config
        self.allow_script = redis.register_script(ALLOW_LUA)
        self.record_script = redis.register_script(RECORD_LUA)
        self._breakers: dict[str, CircuitBreaker] = {}
        self.outages = OutageLog("circuit breaker", "letting calls through")

    def for_model(self, model: str) -> CircuitBreaker:
        breaker = self._breakers.get(model)
        if breaker is None:
            breaker = self._breakers[model] = CircuitBreaker(model, self)
        return breaker

    async def reset(self) -> None:
        """Forget every breaker's state (tests, or an operator after a fix)."""
        for b in self._breakers.values():
            await self.redis.delete(b.key)
        self._breakers.clear()

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self._breakers.items()}
