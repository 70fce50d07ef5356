"""Class mode's ledger: budgets held and charged, and usage counted, per key and tenant.

The pipeline calls it at the points where it already settles a request (pipeline.py):
`admit` in the admission step, `settle` where the rate limiter is charged (a complete
answer, a finished stream, a cache hit; a stream that ended early, for what it generated),
and `accounting` around the whole call gives back the hold of a call that failed before it
was settled (nothing is charged for it) and counts the error that ended it.

**Exact to one request.** A request is admitted while its budget is not used up, and once
admitted it is answered and charged in full, even if that takes the budget past its limit;
the next request is then refused (429 `budget_exceeded`). So a budget is overrun by at most
the one request that crossed it, also with many requests of one budget running at once
(a tenant's 200 students). For that, admission *holds* an upper bound of the request's cost
(its prompt's tokens, plus `max_tokens` or MAX_OUTPUT_TOKENS of output, at the price of the
dearest model it may end up on), and a request is admitted
- if its hold fits: spent + held by requests in flight + its own hold <= limit; or
- if it does not fit but the budget is not used up (spent + held < limit) and no other
  request is already crossing the limit: it becomes the one that may (the "overflow" slot).
Everything else is refused: for good once the spent money reaches the limit (until the
period resets), or for a moment while the last of a budget is held by requests in flight.
Settling replaces the hold by the real cost. Admission, settling and the usage counters are
Lua scripts: atomic in Redis, so the rule holds across workers and replicas. A hold lives at
most BUDGET_HOLD_S (a worker that died mid-request cannot block a budget for ever).

Nothing of class mode has a Redis TTL: with `maxmemory-policy volatile-lru` Redis evicts
only keys that have one (the cache's, the rate limiter's), never a key, a budget or usage.
A day's or week's budget leaves one small hash per key and period (about 100 bytes).

The bound holds as long as a request costs no more than its hold: an upstream that ignores
`max_tokens` and answers with more than MAX_OUTPUT_TOKENS adds the difference.

**Usage** (per key and per tenant, since the key was made): answered requests, tokens and
cost paid upstream, cache hits and what they saved (a hit costs nothing), errors by type,
last seen. Counted in the same script as the charge, so the two can never disagree.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from .budgets import Budget, Window, exceeded, to_nano, window, zone
from .clock import Clock
from .config import Settings
from .errors import KeyStoreUnavailable, ServiceError
from .keys import Names
from .outage import OutageLog
from .pricing import PriceTable

if TYPE_CHECKING:
    from .call import ChatCall
    from .clients import Client

log = logging.getLogger(__name__)

# Give back the holds whose lease ran out (their request's worker died). Shared by both scripts.
REAP_LUA = """
local function reap(state, holds, leases, now)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  for _, id in ipairs(expired) do
    local amount = redis.call('HGET', holds, id)
    if amount and amount ~= '0' then redis.call('HINCRBY', state, 'held', '-' .. amount) end
    redis.call('HDEL', holds, id)
    if redis.call('HGET', state, 'overflow') == id then redis.call('HDEL', state, 'overflow') end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', leases, '-inf', now) end
end
"""

# KEYS: per budget its state (hash: spent, held, overflow), holds (hash: hold id -> amount)
# and leases (sorted set: hold id -> expiry ms). ARGV: now_ms, hold id, lease_ms, then per
# budget: limit, hold amount. Money in nano-dollars.
# Returns {1} (admitted, every budget held) or {0, i, spent, held} (refused by budget i).
ADMIT_LUA = (
    REAP_LUA
    + """
local now, id, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 3
local overflow = {}
for i = 1, n do
  local state, holds, leases = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  reap(state, holds, leases, now)
  local limit, amount = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local spent = tonumber(redis.call('HGET', state, 'spent') or '0')
  local held = tonumber(redis.call('HGET', state, 'held') or '0')
  if spent + held + amount <= limit then
    overflow[i] = false
  elseif spent + held < limit and redis.call('HEXISTS', state, 'overflow') == 0 then
    overflow[i] = true
  else
    return {0, i, spent, held}
  end
end
for i = 1, n do
  local state, holds, leases = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  redis.call('HINCRBY', state, 'held', ARGV[3 + 2 * i])
  redis.call('HSET', holds, id, ARGV[3 + 2 * i])
  redis.call('ZADD', leases, now + lease, id)
  if overflow[i] then redis.call('HSET', state, 'overflow', id) end
end
return {1}
"""
)

# KEYS: per budget its three keys (as above), then the key's and the tenant's usage, then the
# sets of keys and tenants with usage. ARGV: number of budgets, hold id, cost, saved,
# prompt tokens, completion tokens, cache hit (0/1), now (unix s), answered (1: charge and
# count a request; 0: only give the hold back), key id, tenant.
SETTLE_LUA = """
local n, id, answered = tonumber(ARGV[1]), ARGV[2], ARGV[9] == '1'
for i = 1, n do
  local state, holds, leases = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local amount = redis.call('HGET', holds, id)
  if amount then
    -- amounts are passed as text: exact integers ("-0" is not one to Redis)
    if amount ~= '0' then redis.call('HINCRBY', state, 'held', '-' .. amount) end
    redis.call('HDEL', holds, id)
    redis.call('ZREM', leases, id)
  end
  if redis.call('HGET', state, 'overflow') == id then redis.call('HDEL', state, 'overflow') end
  if answered then redis.call('HINCRBY', state, 'spent', ARGV[3]) end
end
if answered then
  for j = 3 * n + 1, 3 * n + 2 do
    local usage = KEYS[j]
    redis.call('HINCRBY', usage, 'requests', 1)
    redis.call('HINCRBY', usage, 'prompt_tokens', ARGV[5])
    redis.call('HINCRBY', usage, 'completion_tokens', ARGV[6])
    redis.call('HINCRBY', usage, 'cost_nano', ARGV[3])
    redis.call('HINCRBY', usage, 'saved_nano', ARGV[4])
    redis.call('HINCRBY', usage, 'cache_hits', ARGV[7])
    redis.call('HSET', usage, 'last_seen', ARGV[8])
  end
  redis.call('HSET', KEYS[3 * n + 1], 'tenant', ARGV[11])
  redis.call('SADD', KEYS[3 * n + 3], ARGV[10])
  redis.call('SADD', KEYS[3 * n + 4], ARGV[11])
end
return 1
"""


@dataclass
class Hold:
    """A call's reservation on its budgets, given back or replaced by the cost at settling."""

    id: str
    budgets: list[tuple[Budget, Window]]


class NoLedger:
    """Class mode off: nothing is held, charged or counted."""

    async def admit(self, call: ChatCall, prompt_tokens: int) -> None:
        return None

    async def settle(
        self,
        call: ChatCall,
        model: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        hit: bool = False,
    ) -> None:
        return None

    @asynccontextmanager
    async def accounting(self, call: ChatCall) -> AsyncIterator[None]:
        yield


class Ledger:
    """Budgets and usage of keyed clients, in Redis (see the module's docstring)."""

    def __init__(self, redis: Any, clock: Clock, settings: Settings, prices: PriceTable) -> None:
        self.redis = redis
        self.prices = prices
        self.clock = clock
        self.settings = settings
        self.tz = zone(settings.budget_timezone)
        self._admit = redis.register_script(ADMIT_LUA)
        self._settle = redis.register_script(SETTLE_LUA)
        self._outages = OutageLog(
            "budgets", "keyed requests refused (503); answers already running are not charged"
        )

    # -- admission ---------------------------------------------------------------------
    async def admit(self, call: ChatCall, prompt_tokens: int) -> None:
        """Hold the call's worst-case cost on its budgets, or refuse it (429)."""
        client = call.client
        if client.key_id is None or not client.budgets:
            return
        now = self.clock.time()
        hold = Hold(uuid.uuid4().hex, [(b, window(b.period, now, self.tz)) for b in client.budgets])
        amount = self.hold_amount(call, prompt_tokens)
        keys: list[str] = []
        args: list[Any] = [int(now * 1000), hold.id, int(self.settings.budget_hold_s * 1000)]
        for budget, win in hold.budgets:
            keys += Names.budget(budget.scope, budget.owner, win.id)
            args += [to_nano(budget.limit_usd), amount]
        try:
            out = await self._admit(keys=keys, args=args)
        except RedisError:
            self._outages.failed()
            raise KeyStoreUnavailable(
                "Budgets cannot be checked right now; retry shortly.", retry_after=5
            ) from None
        self._outages.succeeded()
        if int(out[0]) == 1:
            call.hold = hold
            return
        budget, win = hold.budgets[int(out[1]) - 1]
        raise exceeded(budget, win, int(out[2]), int(out[3]), now)

    def hold_amount(self, call: ChatCall, prompt_tokens: int) -> int:
        """An upper bound of the call's cost, in nano-dollars: the prompt and the most
        output it may get, on the dearest model it may be answered by (a routed call can
        fall back to the other model)."""
        completion = call.params.get("max_tokens") or self.settings.max_output_tokens
        models = (
            [call.model]
            if call.model and call.route and call.route.reason == "pinned"
            else list(self.settings.models)
        )
        return max(self._nano(m, prompt_tokens, completion) for m in models)

    def _nano(self, model: str, prompt_tokens: int, completion_tokens: int) -> int:
        """The one place class mode prices tokens (MODEL_PRICES)."""
        return to_nano(self.prices.cost_usd(model, prompt_tokens, completion_tokens))

    # -- settling ----------------------------------------------------------------------
    async def settle(
        self,
        call: ChatCall,
        model: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        hit: bool = False,
    ) -> None:
        """Charge an answered call (once): its cost replaces its hold; a cache hit costs
        nothing and counts what it saved."""
        if call.client.key_id is None or call.charged:
            return
        call.charged = True
        cost = self._nano(model, prompt_tokens, completion_tokens) if model else 0
        await self._run_settle(
            call,
            answered=True,
            cost=0 if hit else cost,
            saved=cost if hit else 0,
            tokens=(0, 0) if hit else (prompt_tokens, completion_tokens),
            hit=hit,
        )

    async def release(self, call: ChatCall) -> None:
        """Give back the hold of a call that ended without an answer (nothing charged)."""
        if call.hold is None or call.charged:
            return
        call.charged = True
        await self._run_settle(call, answered=False, cost=0, saved=0, tokens=(0, 0), hit=False)

    async def _run_settle(
        self,
        call: ChatCall,
        *,
        answered: bool,
        cost: int,
        saved: int,
        tokens: tuple[int, int],
        hit: bool,
    ) -> None:
        client = call.client
        assert client.key_id is not None
        budgets = call.hold.budgets if call.hold is not None else []
        keys: list[str] = []
        for budget, win in budgets:
            keys += Names.budget(budget.scope, budget.owner, win.id)
        keys += [
            Names.usage("key", client.key_id),
            Names.usage("tenant", client.tenant),
            Names.usage_keys,
            Names.usage_tenants,
        ]
        args: list[Any] = [
            len(budgets),
            call.hold.id if call.hold else "",
            cost,
            saved,
            tokens[0],
            tokens[1],
            int(hit),
            f"{self.clock.time():.3f}",
            int(answered),
            client.key_id,
            client.tenant,
        ]
        try:
            # Shielded: a client that goes away while this runs must not leave it half done.
            await asyncio.shield(self._settle(keys=keys, args=args))
        except RedisError:
            self._outages.failed()
            if answered:
                log.warning(
                    "budgets: could not charge a request",
                    extra={
                        "fields": {
                            "key_id": client.key_id,
                            "tenant": client.tenant,
                            "cost_nano": cost,
                            "request_id": call.request_id,
                        }
                    },
                )

    # -- errors --------------------------------------------------------------------------
    async def refused(self, client: Client, kind: str) -> None:
        """Count an error answered to a keyed client, by its type."""
        if client.key_id is None:
            return
        now = f"{self.clock.time():.3f}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for usage in (
                    Names.usage("key", client.key_id),
                    Names.usage("tenant", client.tenant),
                ):
                    pipe.hincrby(usage, f"refused:{kind}", 1)
                    pipe.hset(usage, "last_seen", now)
                pipe.hset(Names.usage("key", client.key_id), "tenant", client.tenant)
                pipe.sadd(Names.usage_keys, client.key_id)
                pipe.sadd(Names.usage_tenants, client.tenant)
                await pipe.execute()
        except RedisError:
            self._outages.failed()

    @asynccontextmanager
    async def accounting(self, call: ChatCall) -> AsyncIterator[None]:
        """Around one call: count the error that ends it, and give back the hold of a call
        that was not settled (it failed before an answer: nothing is charged)."""
        try:
            yield
        except ServiceError as exc:
            await self.refused(call.client, exc.type)
            raise
        finally:
            await self.release(call)
