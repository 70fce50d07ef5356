"""Class mode's parts on their own: budget periods, the key store and the ledger's rule
(exact to one request, also with many requests of one budget at once), each Redis test on
the embedded fakeredis and on a real Redis 8."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from reference_service.budgets import Budget, BudgetExceeded, exceeded, to_nano, window, zone
from reference_service.call import ChatCall
from reference_service.clients import Client
from reference_service.clock import FakeClock
from reference_service.keys import KeyStore, Names, digest
from reference_service.ledger import Ledger
from reference_service.pricing import PriceTable
from reference_service.ratelimit import Limits
from reference_service.routing import RouteDecision
from tests.support import make_settings

DAY = 86400
T0 = datetime(2025, 3, 12, 15, 30, tzinfo=UTC).timestamp()  # a Wednesday


# -- periods ---------------------------------------------------------------------------
def test_a_day_and_a_week_begin_at_midnight_and_a_total_never_resets():
    utc = zone("UTC")
    day = window("day", T0, utc)
    assert day.id == "d2025-03-12"
    assert day.ends_at == datetime(2025, 3, 13, tzinfo=UTC).timestamp()
    week = window("week", T0, utc)
    assert week.id == "w2025-03-10"  # the Monday
    assert week.ends_at == datetime(2025, 3, 17, tzinfo=UTC).timestamp()
    assert window("total", T0, utc).ends_at is None
    assert window("day", day.ends_at, utc).id == "d2025-03-13"  # midnight is the next day
    assert window("day", day.ends_at - 0.001, utc).id == "d2025-03-12"


def test_a_day_across_a_daylight_saving_change_ends_at_local_midnight():
    berlin = zone("Europe/Berlin")
    saturday = datetime(2025, 3, 29, 12, tzinfo=berlin).timestamp()  # clocks go forward Sunday
    sunday = window("day", saturday + DAY, berlin)
    assert sunday.id == "d2025-03-30"
    assert sunday.ends_at - window("day", saturday, berlin).ends_at == 23 * 3600
    assert datetime.fromtimestamp(sunday.ends_at, berlin).hour == 0


def test_the_refusal_says_which_budget_what_was_spent_and_when_it_resets():
    budget = Budget("key", "cs101-007", 2.0, "day")
    err = exceeded(budget, window("day", T0, zone("UTC")), to_nano(2.0013), 0, T0)
    assert isinstance(err, BudgetExceeded) and err.status == 429
    assert "key cs101-007" in err.message and "$2.0013" in err.message
    assert "2025-03-13T00:00:00Z" in err.message
    assert err.retry_after == 8 * 3600 + 30 * 60
    assert err.details["budget"]["resets_at"] == "2025-03-13T00:00:00Z"
    total = exceeded(
        Budget("tenant", "cs101", 50, "total"),
        window("total", T0, zone("UTC")),
        to_nano(50.5),
        0,
        T0,
    )
    assert total.retry_after is None and "does not reset" in total.message
    held = exceeded(budget, window("day", T0, zone("UTC")), to_nano(1.9), to_nano(0.2), T0)
    assert held.code == "budget_held" and held.retry_after == 1


def test_an_unknown_time_zone_is_a_settings_error():
    with pytest.raises(ValueError, match="unknown time zone"):
        make_settings(budget_timezone="Mars/Olympus_Mons")


# -- the key store ----------------------------------------------------------------------
async def all_redis_text(redis) -> str:
    """Every key name and value in Redis, as one string."""
    parts = []
    for key in await redis.keys("*"):
        parts.append(str(key))
        kind = (
            (await redis.type(key)).decode()
            if isinstance(await redis.type(key), bytes)
            else await redis.type(key)
        )
        if kind == "string":
            parts.append(str(await redis.get(key)))
        elif kind == "hash":
            parts.append(str(await redis.hgetall(key)))
        elif kind == "set":
            parts.append(str(await redis.smembers(key)))
        elif kind == "zset":
            parts.append(str(await redis.zrange(key, 0, -1, withscores=True)))
    return "\n".join(parts)


async def test_keys_are_stored_as_hashes_and_found_by_the_raw_key(async_redis_factory):
    redis = async_redis_factory()
    store = KeyStore(redis)
    made = await store.create(3, "cs101", T0, rpm=20, tpm=40000, budget_usd=2, period="day")
    assert [k.record.id for k in made] == ["cs101-001", "cs101-002", "cs101-003"]
    assert all(k.raw.startswith("sk-cs101-") and len(k.raw) == len("sk-cs101-") + 43 for k in made)
    assert len({k.raw for k in made}) == 3
    dump = await all_redis_text(redis)
    for k in made:
        assert k.raw not in dump and k.raw.split("-", 2)[2] not in dump
        assert digest(k.raw) in dump  # what is kept instead
    found = await store.lookup(made[1].raw, T0)
    assert found is not None and found.key.id == "cs101-002" and found.key.rpm == 20
    assert found.key.budget() == Budget("key", "cs101-002", 2.0, "day")
    assert await store.lookup("sk-cs101-" + "x" * 43, T0) is None
    more = await store.create(2, "cs101", T0)  # numbering goes on
    assert [k.record.id for k in more] == ["cs101-004", "cs101-005"]
    assert await store.ids() == [f"cs101-00{i}" for i in range(1, 6)]
    await redis.aclose()


async def test_revoke_rotate_and_update(async_redis_factory):
    redis = async_redis_factory()
    store = KeyStore(redis)
    a, b = await store.create(2, "lab", T0, budget_usd=1)
    await store.revoke([a.record.id], T0 + 1)
    found = await store.lookup(a.raw, T0 + 2)
    assert found.key.status == "revoked"  # still recognised, to say why it is refused
    usage = await redis.hgetall(Names.usage("key", a.record.id))
    assert (
        usage[b"refused:key_revoked"] == b"1"
        if isinstance(next(iter(usage)), bytes)
        else usage["refused:key_revoked"] == "1"
    )
    (rotated,) = await store.rotate([b.record.id], T0 + 3)
    assert rotated.raw != b.raw and rotated.record.id == b.record.id
    assert await store.lookup(b.raw, T0 + 4) is None  # the old secret is dead at once
    assert (await store.lookup(rotated.raw, T0 + 4)).key.status == "active"
    (again,) = await store.rotate([a.record.id], T0 + 5)  # a revoked key comes back
    assert (await store.lookup(again.raw, T0 + 6)).key.status == "active"
    assert await store.lookup(a.raw, T0 + 6) is None
    (changed,) = await store.update([a.record.id], rpm=5, budget_usd=3, period="week")
    assert (changed.rpm, changed.budget_usd, changed.period) == (5, 3.0, "week")
    (cleared,) = await store.update([a.record.id], clear_budget=True)
    assert cleared.budget() is None
    tenant = await store.set_tenant("lab", 50, "week")
    assert tenant.budget() == Budget("tenant", "lab", 50.0, "week")
    assert (await store.lookup(again.raw, T0)).tenant.budget_usd == 50.0
    await redis.aclose()


async def test_names_are_checked():
    import fakeredis

    store = KeyStore(fakeredis.FakeAsyncRedis())
    for bad in ("", "a b", "x" * 33, "-lead", "ünï", "a:b"):
        with pytest.raises(ValueError):
            await store.create(1, bad, T0)


# -- the ledger ---------------------------------------------------------------------------
PRICE_IN, PRICE_OUT = 0.15e-6, 0.60e-6  # gpt-4o-mini, USD per token


def ledger_for(redis, clock, **overrides) -> Ledger:
    settings = make_settings(redis_url="redis://unused", class_mode=True, **overrides)
    return Ledger(redis, clock, settings, PriceTable(settings.model_prices))


def a_call(budgets, key_id="k1", tenant="t", max_tokens=100) -> ChatCall:
    client = Client(
        f"key:{key_id}", tenant, Limits(1000, 10**9), key_id=key_id, budgets=tuple(budgets)
    )
    call = ChatCall(
        messages=[{"role": "user", "content": "hi"}],
        model="gpt-4o-mini",
        client=client,
        params={"max_tokens": max_tokens},
    )
    call.route = RouteDecision("gpt-4o-mini", "pinned")
    return call


async def spent_nano(redis, budget: Budget, clock) -> int:
    win = window(budget.period, clock.time(), zone("UTC"))
    value = await redis.hget(Names.budget(budget.scope, budget.owner, win.id)[0], "spent")
    return int(value or 0)


async def test_requests_one_at_a_time_stop_exactly_after_the_one_that_crossed(async_redis_factory):
    redis, clock = async_redis_factory(), FakeClock()
    ledger = ledger_for(redis, clock)
    cost = to_nano(30 * PRICE_IN + 50 * PRICE_OUT)
    budget = Budget("key", "k1", 2.5 * cost / 1e9, "day")
    admitted = 0
    for _ in range(10):
        call = a_call([budget])
        try:
            await ledger.admit(call, 30)
        except BudgetExceeded as exc:
            assert exc.code is None and exc.retry_after > 0  # spent: until midnight
            break
        admitted += 1
        await ledger.settle(call, "gpt-4o-mini", 30, 50)
    assert admitted == 3  # 0, 1c, 2c were under 2.5c; 3c is over
    assert await spent_nano(redis, budget, clock) == 3 * cost
    clock.advance(DAY)  # a new day: a fresh budget
    call = a_call([budget])
    await ledger.admit(call, 30)
    await redis.aclose()


async def test_concurrent_requests_of_one_budget_overrun_it_by_at_most_one(async_redis_factory):
    """50 requests of one tenant at once, again and again until it is refused for good: the
    spend ends between the limit and the limit plus one request."""
    redis, clock = async_redis_factory(), FakeClock()
    ledger = ledger_for(redis, clock)
    cost = to_nano(30 * PRICE_IN + 60 * PRICE_OUT)
    budget = Budget("tenant", "t", 37.5 * cost / 1e9, "total")
    answered = 0
    refused_for_good = 0

    async def one(i):
        nonlocal answered, refused_for_good
        call = a_call([budget], key_id=f"k{i}", max_tokens=100)
        while True:
            try:
                await ledger.admit(call, 30)
                break
            except BudgetExceeded as exc:
                if exc.code != "budget_held":
                    refused_for_good += 1
                    return
                await asyncio.sleep(0.001)  # held by others still running: come back
        await asyncio.sleep(0.002)  # the upstream answers
        answered += 1
        await ledger.settle(call, "gpt-4o-mini", 30, 60)

    await asyncio.gather(*(one(i) for i in range(50)))
    spent = await spent_nano(redis, budget, clock)
    assert answered == 38 and refused_for_good == 12
    assert to_nano(budget.limit_usd) <= spent < to_nano(budget.limit_usd) + cost
    state = await redis.hgetall(Names.budget("tenant", "t", "total")[0])
    held = state.get(b"held", state.get("held"))
    assert int(held) == 0  # every hold given back
    await redis.aclose()


async def test_a_failed_call_gives_its_hold_back_and_a_hit_costs_nothing(async_redis_factory):
    redis, clock = async_redis_factory(), FakeClock()
    ledger = ledger_for(redis, clock)
    budget = Budget("key", "k1", 1.0, "total")
    call = a_call([budget])
    with pytest.raises(RuntimeError):
        async with ledger.accounting(call):
            await ledger.admit(call, 30)
            raise RuntimeError("the upstream failed")
    state = await redis.hgetall(Names.budget("key", "k1", "total")[0])
    assert int(state.get(b"held", state.get("held"))) == 0
    assert int(state.get(b"spent", state.get("spent", 0)) or 0) == 0
    hit = a_call([budget])
    await ledger.admit(hit, 30)
    await ledger.settle(hit, "gpt-4o-mini", 30, 50, hit=True)
    await ledger.settle(hit, "gpt-4o-mini", 30, 50, hit=True)  # once only
    assert await spent_nano(redis, budget, clock) == 0
    usage = {
        k.decode() if isinstance(k, bytes) else k: int(v)
        for k, v in (await redis.hgetall(Names.usage("key", "k1"))).items()
        if (k.decode() if isinstance(k, bytes) else k) != "tenant"
        and (k.decode() if isinstance(k, bytes) else k) != "last_seen"
    }
    assert usage["requests"] == 1 and usage["cache_hits"] == 1 and usage["cost_nano"] == 0
    assert usage["saved_nano"] == to_nano(30 * PRICE_IN + 50 * PRICE_OUT)
    await redis.aclose()


async def test_a_hold_of_a_worker_that_died_expires(async_redis_factory):
    redis, clock = async_redis_factory(), FakeClock()
    ledger = ledger_for(redis, clock, budget_hold_s=60)
    cost = to_nano(30 * PRICE_IN + 100 * PRICE_OUT)  # the hold of max_tokens=100
    budget = Budget("key", "k1", 1.5 * cost / 1e9, "total")
    await ledger.admit(a_call([budget]), 30)  # never settled: its worker died
    await ledger.admit(a_call([budget]), 30)  # the overflow slot
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.admit(a_call([budget]), 30)
    assert refused.value.code == "budget_held"
    clock.advance(61)
    await ledger.admit(a_call([budget]), 30)  # both leases ran out
    await redis.aclose()


async def test_a_model_without_a_price_holds_nothing_and_is_still_counted(async_redis_factory):
    redis, clock = async_redis_factory(), FakeClock()
    ledger = ledger_for(redis, clock)
    budget = Budget("key", "k1", 1e-6, "day")
    for _ in range(3):
        call = a_call([budget])
        call.model = "a-model-without-a-list-price"
        call.route = RouteDecision(call.model, "pinned")
        assert ledger.hold_amount(call, 30) == 0
        await ledger.admit(call, 30)
        await ledger.settle(call, call.model, 30, 50)
    usage = await redis.hget(Names.usage("key", "k1"), "requests")
    assert int(usage) == 3 and await spent_nano(redis, budget, clock) == 0
    await redis.aclose()


async def test_nothing_of_class_mode_can_expire_or_be_evicted(async_redis_factory):
    """With maxmemory-policy volatile-lru (the deployment files' choice) Redis evicts only
    keys with a TTL: class mode's keys, budgets and usage have none."""
    redis, clock = async_redis_factory(), FakeClock()
    store, ledger = KeyStore(redis), ledger_for(redis, clock)
    key, revoked = await store.create(2, "ttl", clock.time(), budget_usd=1, period="day")
    await store.revoke([revoked.record.id], clock.time())
    await store.lookup(revoked.raw, clock.time())
    await store.set_tenant("ttl", 5, "week")
    found = await store.lookup(key.raw, clock.time())
    call = a_call([found.key.budget(), found.tenant.budget()], key_id=key.record.id, tenant="ttl")
    await ledger.admit(call, 30)
    await ledger.settle(call, "gpt-4o-mini", 30, 50)
    await ledger.refused(call.client, "rate_limited")
    names = [k.decode() if isinstance(k, bytes) else k for k in await redis.keys("class:*")]
    assert len(names) >= 10 and any(":budget:tenant:ttl:w" in n for n in names)
    assert {n: await redis.ttl(n) for n in names} == {n: -1 for n in names}
    await redis.aclose()


def test_the_deployed_redis_evicts_only_keys_with_a_ttl_and_keeps_its_data():
    from pathlib import Path

    import yaml

    compose = yaml.safe_load(Path("docker-compose.yml").read_text())["services"]["redis"]
    command = compose["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "volatile-lru"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in compose["volumes"])
    k8s = yaml.safe_load(Path("deploy/k8s/redis.yaml").read_text().split("\n---")[0])
    args = k8s["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "volatile-lru"
