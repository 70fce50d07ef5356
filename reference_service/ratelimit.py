"""Rate limits per client: requests per minute and tokens per minute, in one Lua script.

Algorithm: GCRA (the generic cell rate algorithm, a token bucket expressed as one
"theoretical arrival time" per key). Why: one number per key instead of two (a bucket
needs level and timestamp), exact and smooth (no double burst at window edges as with
fixed windows), and checking several limits and updating them all-or-nothing is a few
lines of Lua, which Redis runs atomically: the limit holds across `--workers N` and
replicas sharing one Redis. Time comes from Redis (`TIME`) so replicas with skewed clocks
agree; tests may pass their own `now`.

Tokens: a request is checked against its prompt tokens up front; its completion tokens
are charged afterwards (`charge`), so a client that overspends waits for the debt.

The embedded default (fakeredis, with its Lua support) runs the very same script.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .errors import LimiterUnavailable, RequestTooLarge
from .outage import OutageLog

# The time in ms: ARGV[1] if given (tests), else Redis's own clock (one clock for all replicas).
NOW_LUA = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
"""

# KEYS: one key per limit. ARGV: now_ms ("" = Redis TIME), then per limit:
# limit, period_ms, cost. Returns {allowed (1/0), retry_after_ms, remaining..., reset_ms...}.
GCRA_LUA = (
    NOW_LUA
    + """
local n = #KEYS
local tats, new_tats, intervals, periods = {}, {}, {}, {}
local retry_after = 0
for i = 1, n do
  local limit = tonumber(ARGV[2 + (i - 1) * 3])
  local period = tonumber(ARGV[3 + (i - 1) * 3])
  local cost = tonumber(ARGV[4 + (i - 1) * 3])
  local interval = period / limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - period
  if allow_at > now then retry_after = math.max(retry_after, allow_at - now) end
  tats[i], new_tats[i], intervals[i], periods[i] = tat, new_tat, interval, period
end
local allowed = 1
if retry_after > 0 then allowed = 0 end
local out = {allowed, math.ceil(retry_after)}
local resets = {}
for i = 1, n do
  -- all limits are taken, or none: a refused request costs nothing
  local tat = tats[i]
  if allowed == 1 then
    tat = new_tats[i]
    redis.call('SET', KEYS[i], tat, 'PX', math.ceil(tat - now) + 1000)
  end
  out[#out + 1] = math.max(0, math.floor((periods[i] - (tat - now)) / intervals[i]))
  resets[i] = math.ceil(tat - now)
end
for i = 1, n do out[#out + 1] = resets[i] end
return out
"""
)

# Charge without checking: push the TAT forward (completion tokens known after the call).
CHARGE_LUA = (
    NOW_LUA
    + """
local limit, period, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * (period / limit)
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return 1
"""
)

PERIOD_MS = 60_000


@dataclass
class Limits:
    rpm: int
    tpm: int


@dataclass
class Decision:
    allowed: bool
    retry_after_s: int  # whole seconds, for the Retry-After header
    limits: Limits
    remaining_requests: int
    remaining_tokens: int
    reset_requests_ms: int
    reset_tokens_ms: int

    def headers(self) -> dict[str, str]:
        """OpenAI-style x-ratelimit-* headers (what LLM clients already read)."""
        h = {
            "x-ratelimit-limit-requests": str(self.limits.rpm),
            "x-ratelimit-remaining-requests": str(self.remaining_requests),
            "x-ratelimit-reset-requests": f"{self.reset_requests_ms / 1000:.3f}s",
            "x-ratelimit-limit-tokens": str(self.limits.tpm),
            "x-ratelimit-remaining-tokens": str(self.remaining_tokens),
            "x-ratelimit-reset-tokens": f"{self.reset_tokens_ms / 1000:.3f}s",
        }
        if not self.allowed:
            h["retry-after"] = str(self.retry_after_s)
        return h


class NoLimits:
    """RATE_LIMIT_ENABLED=false: every request is admitted, nothing is charged."""

    enabled = False  # the pipeline need not even count the prompt's tokens

    async def check(
        self, client: str, limits: Limits, tokens: int, now_ms: int | None = None
    ) -> Decision | None:
        return None

    async def charge(
        self, client: str, limits: Limits, tokens: int, now_ms: int | None = None
    ) -> None:
        return None


class RateLimiter:
    """Checks and charges a client's request and token budgets in Redis."""

    enabled = True

    def __init__(self, redis: Redis, *, fail_open: bool = True, prefix: str = "rl") -> None:
        self.redis = redis
        self.fail_open = fail_open
        self.prefix = prefix
        self._check = redis.register_script(GCRA_LUA)
        self._charge = redis.register_script(CHARGE_LUA)
        self._outages = OutageLog(
            "rate limiter",
            "failing open (requests allowed)" if fail_open else "failing closed (503)",
        )

    def _keys(self, client: str) -> list[str]:
        return [f"{self.prefix}:{{{client}}}:req", f"{self.prefix}:{{{client}}}:tok"]

    async def check(
        self, client: str, limits: Limits, tokens: int, now_ms: int | None = None
    ) -> Decision | None:
        """Take one request and `tokens` prompt tokens, or say when to come back.

        None when Redis is unreachable and the limiter fails open (logged once per outage);
        503 (LimiterUnavailable) when it fails closed.
        """
        if tokens > limits.tpm:  # it could never be admitted: say so, do not make it wait
            raise RequestTooLarge(
                f"The prompt is {tokens} tokens; this client may send "
                f"{limits.tpm} tokens per minute.",
                code="over_token_limit",
            )
        tokens = max(1, tokens)
        args = [
            "" if now_ms is None else now_ms,
            limits.rpm,
            PERIOD_MS,
            1,
            limits.tpm,
            PERIOD_MS,
            tokens,
        ]
        try:
            out = await self._check(keys=self._keys(client), args=args)
        except RedisError:
            self._outage()  # raises when failing closed
            return None
        self._outages.succeeded()
        allowed, retry_ms, rem_req, rem_tok, reset_req, reset_tok = (int(x) for x in out)
        return Decision(
            bool(allowed),
            max(1, math.ceil(retry_ms / 1000)) if not allowed else 0,
            limits,
            rem_req,
            rem_tok,
            reset_req,
            reset_tok,
        )

    async def charge(
        self, client: str, limits: Limits, tokens: int, now_ms: int | None = None
    ) -> None:
        """Charge tokens used after the fact (a completion's tokens)."""
        if tokens <= 0:
            return
        try:
            await self._charge(
                keys=self._keys(client)[1:],
                args=["" if now_ms is None else now_ms, limits.tpm, PERIOD_MS, tokens],
            )
        except RedisError:
            try:
                self._outage()  # logs once per outage
            except LimiterUnavailable:
                pass  # the answer is already made: an uncharged answer beats a lost one

    def _outage(self) -> None:
        self._outages.failed()
        if not self.fail_open:
            raise LimiterUnavailable(
                "Rate limits cannot be checked right now; retry shortly.", retry_after=5
            )
        return None


# The lecture's limiter for /chat/limited: a log of each client's request times, and a request
# is allowed while fewer than `limit` of them are younger than the window. The lecture keeps
# the log in a dict per process (with `--workers 4`, four separate limits, and a log that grows
# per client without bound); here it is a sorted set in Redis, trimmed on every call, so the
# rule holds exactly across workers. KEYS[1]: the client's log. ARGV: now_ms ("" = Redis
# TIME), limit, window_ms, a unique member. Returns {allowed, retry_after_ms, remaining}.
WINDOW_LOG_LUA = (
    NOW_LUA
    + """
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now, 0}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0, limit - n - 1}
"""
)


@dataclass
class SlidingDecision:
    allowed: bool
    retry_after_s: int  # whole seconds, rounded up, at least 1 when refused
    limit: int
    remaining: int


class SlidingWindowLimiter:
    """The lecture's rule: at most `limit` requests in any `window_ms` per client."""

    def __init__(
        self,
        redis: Redis,
        limit: int,
        *,
        window_ms: int = PERIOD_MS,
        fail_open: bool = True,
        prefix: str = "rl:window",
    ) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self.fail_open = fail_open
        self.prefix = prefix
        self._script = redis.register_script(WINDOW_LOG_LUA)
        self._outages = OutageLog(
            "per-client limit",
            "failing open (requests allowed)" if fail_open else "failing closed (503)",
        )

    async def check(self, client: str, now_ms: int | None = None) -> SlidingDecision | None:
        """Record one request of `client`, or refuse it; None when Redis is unreachable
        and the limiter fails open."""
        try:
            out = await self._script(
                keys=[f"{self.prefix}:{{{client}}}"],
                args=[
                    "" if now_ms is None else now_ms,
                    self.limit,
                    self.window_ms,
                    uuid.uuid4().hex,
                ],
            )
        except RedisError:
            self._outages.failed()
            if not self.fail_open:
                raise LimiterUnavailable(
                    "Rate limits cannot be checked right now; retry shortly.", retry_after=5
                ) from None
            return None
        self._outages.succeeded()
        allowed, retry_ms, remaining = (int(x) for x in out)
        retry_s = max(1, math.ceil(retry_ms / 1000)) if not allowed else 0
        return SlidingDecision(bool(allowed), retry_s, self.limit, remaining)
