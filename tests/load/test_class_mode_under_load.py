"""Class mode under a steady load: 200 keys through `python -m reference_service --workers 2`
on a real Redis 8.

What must hold: every answered request is charged exactly once (the usage of each key and
tenant, and the Prometheus count, agree with what the clients received), each budget is
exact to one request (a key's: the request that crossed it and not one more; a tenant's,
with 100 of its keys sending at once: spent between the limit and the limit plus one
request), a revoked key is refused on its very next request by both workers, and no raw key
is anywhere in Redis or in the service's log.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx
import pytest
import redis as sync_redis
import redis.asyncio as aredis

from reference_service.budgets import NANO, to_nano
from reference_service.keys import KeyStore
from tests.support import ServiceProcess, parse_sse

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(600)]

INSTRUCTOR = "sk-instructor-0123456789abcdef0123456789abcdef"
ASK = {"message": "What is HBM3?", "model": "gpt-4o-mini", "max_tokens": 100}
N_KEYS = 200


def make_keys(url: str, n: int, prefix: str, **options) -> list:
    async def run():
        redis = aredis.from_url(url)
        try:
            return await KeyStore(redis).create(n, prefix, time.time(), **options)
        finally:
            await redis.aclose()

    return asyncio.run(run())


def redis_dump(url: str) -> str:
    """Every key name and value in Redis, as text."""
    r = sync_redis.Redis.from_url(url, decode_responses=True)
    read = {
        "string": r.get,
        "hash": r.hgetall,
        "set": r.smembers,
        "list": lambda key: r.lrange(key, 0, -1),
        "zset": lambda key: r.zrange(key, 0, -1, withscores=True),
    }
    parts = []
    for key in r.scan_iter(count=1000):
        parts.append(key)
        kind = r.type(key)
        parts.append(str(read[kind](key) if kind in read else ""))
    return "\n".join(parts)


async def ask(c: httpx.AsyncClient, key: str, stream: bool) -> tuple[int, dict]:
    """One request: (status, the usage of an answer or the error body)."""
    headers = {"Authorization": f"Bearer {key}", "Cache-Control": "no-store"}
    if not stream:
        r = await c.post("/chat", json=ASK, headers=headers)
        body = r.json()
        return r.status_code, body["usage"] if r.status_code == 200 else body["error"]
    async with c.stream(
        "POST",
        "/chat/stream",
        json={**ASK, "stream_options": {"include_usage": True}},
        headers=headers,
    ) as r:
        if r.status_code != 200:
            return r.status_code, json.loads(await r.aread())["error"]
        events = parse_sse([line async for line in r.aiter_lines()])
        assert events[-1].event == "done", events[-1]
        return 200, next(e.json() for e in events if e.event == "usage")


async def spend_until_refused(url: str, keys: list, concurrency: int) -> dict[str, dict]:
    """Every key sends one request after another until its budget refuses it for good; a
    refusal while the last of a budget is held by others is retried after 20 ms (a client
    honouring Retry-After would wait 1 s). Per key: answers, refusals."""
    sem = asyncio.Semaphore(concurrency)
    out: dict[str, dict] = {}

    async def student(c: httpx.AsyncClient, i: int, key) -> None:
        mine = out[key.record.id] = {"answers": [], "held": 0, "refusal": None}
        while True:
            async with sem:
                status, body = await ask(c, key.raw, stream=i % 2 == 1)
            if status == 200:
                mine["answers"].append(body)
            elif status == 429 and body.get("code") == "budget_held":
                mine["held"] += 1
                await asyncio.sleep(0.02)
            else:
                assert status == 429 and body["type"] == "budget_exceeded", (status, body)
                mine["refusal"] = body
                return

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
        await asyncio.gather(*(student(c, i, k) for i, k in enumerate(keys)))
    return out


def log_lines(path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_200_keys_through_two_workers(mock_server, redis_url, tmp_path, scale):
    sync_redis.Redis.from_url(redis_url).flushdb()
    mock_server.config.latency = "zero"
    log_path = tmp_path / "service.log"
    with open(log_path, "w") as log_file:
        service = ServiceProcess(
            {
                "OPENAI_BASE_URL": mock_server.base_url,
                "REDIS_URL": redis_url,
                "CLASS_MODE": "true",
                "ADMIN_TOKEN": "admin-secret",
                "CACHE_ENABLED": "false",
                "API_KEYS": json.dumps({INSTRUCTOR: {"tenant": "staff"}}),
                "RATE_LIMIT_RPM": "100000",
                "RATE_LIMIT_TPM": "100000000",
                "LOG_LEVEL": "info",
            },
            workers=2,
            output=log_file,
        )
        try:
            run(service.url, redis_url, log_path, scale)
        finally:
            service.terminate()


def run(url: str, redis_url: str, log_path, scale: int) -> None:
    probe = httpx.post(url + "/chat", json=ASK, headers={"Authorization": f"Bearer {INSTRUCTOR}"})
    assert probe.status_code == 200, probe.text
    one = probe.json()["usage"]
    cost = to_nano((one["prompt_tokens"] * 0.15 + one["completion_tokens"] * 0.60) / 1e6)

    # Tenant "solo": each key has a budget of 2.5 requests (x scale); no tenant budget.
    # Tenant "shared": no key budgets; the tenant's budget is 250.5 requests (x scale),
    # spent by its 100 keys at once.
    per_key = (2.5 * scale) * cost / NANO
    solo = make_keys(redis_url, N_KEYS // 2, "solo", budget_usd=per_key, period="day")
    shared = make_keys(redis_url, N_KEYS // 2, "shared")
    tenant_limit = (250.5 * scale) * cost / NANO
    asyncio.run(_set_tenant(redis_url, "shared", tenant_limit))

    started = time.monotonic()
    results = asyncio.run(spend_until_refused(url, solo + shared, concurrency=32))
    seconds = time.monotonic() - started
    answered = sum(len(r["answers"]) for r in results.values())
    print(
        f"\n{answered} answered, "
        f"{sum(r['held'] + 1 for r in results.values())} refused, in {seconds:.1f} s"
    )

    # Every answer cost the same: the mock's answer is the same for the same question.
    assert all(
        a["prompt_tokens"] == one["prompt_tokens"]
        and a["completion_tokens"] == one["completion_tokens"]
        for r in results.values()
        for a in r["answers"]
    )
    # Each key budget: exactly the request that crossed it, not one more.
    expected_per_key = math.ceil(2.5 * scale)
    for key in solo:
        mine = results[key.record.id]
        assert len(mine["answers"]) == expected_per_key, (key.record.id, mine)
        assert mine["refusal"]["budget"]["scope"] == "key" and mine["held"] == 0
    # The tenant budget, spent by 100 keys at once: exact to one request.
    shared_answers = sum(len(results[k.record.id]["answers"]) for k in shared)
    assert shared_answers == math.ceil(250.5 * scale)
    assert all(results[k.record.id]["refusal"]["budget"]["scope"] == "tenant" for k in shared)

    # Charged exactly once: the ledger agrees with what the clients got, key by key.
    report = httpx.get(url + "/admin/usage", headers={"Authorization": "Bearer admin-secret"})
    data = report.json()
    rows = {r["id"]: r for r in data["keys"]}
    for key in solo + shared:
        row, mine = rows[key.record.id], results[key.record.id]
        n = len(mine["answers"])
        assert row["requests"] == n
        assert row["prompt_tokens"] == n * one["prompt_tokens"]
        assert row["completion_tokens"] == n * one["completion_tokens"]
        assert to_nano(row["cost_usd"]) == n * cost
        assert row["refusals"].get("budget_exceeded", 0) == 1 + mine["held"]
        if key in solo:
            assert to_nano(row["budget"]["spent_usd"]) == n * cost
            assert row["budget"]["held_usd"] == 0
    tenants = {t["tenant"]: t for t in data["tenants"]}
    assert tenants["shared"]["requests"] == shared_answers
    spent = to_nano(tenants["shared"]["budget"]["spent_usd"])
    assert spent == shared_answers * cost
    assert to_nano(tenant_limit) <= spent < to_nano(tenant_limit) + cost
    assert tenants["shared"]["budget"]["held_usd"] == 0
    assert tenants["solo"]["requests"] == len(solo) * expected_per_key
    # ... and with Prometheus (summed over both workers).
    metrics = httpx.get(url + "/metrics").text
    ok = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("llm_gateway_requests_total{")
        and 'status="200"' in line
        and ('route="/chat"' in line or 'route="/chat/stream"' in line)
    )
    assert ok == answered + 1  # and the probe

    revocation_on_both_workers(url, redis_url, log_path)

    # No raw key anywhere: not in Redis, not in the log (which names the ids).
    dump, log_text = redis_dump(redis_url), log_path.read_text()
    assert "solo-001" in log_text and "shared-100" in dump  # the checks look at real data
    for key in solo + shared:
        secret = key.raw.split("-", 2)[2]
        assert secret not in dump and secret not in log_text, key.record.id
    assert INSTRUCTOR not in dump and INSTRUCTOR not in log_text


async def _set_tenant(redis_url: str, name: str, usd: float) -> None:
    redis = aredis.from_url(redis_url)
    try:
        await KeyStore(redis).set_tenant(name, usd, "week")
    finally:
        await redis.aclose()


def revocation_on_both_workers(url: str, redis_url: str, log_path) -> None:
    """A key used on both workers, revoked: the next request on each worker is refused.
    Each request opens a new connection, so the kernel hands it to either worker; the pid
    in the log line says which one answered."""
    (key,) = make_keys(redis_url, 1, "revoke")
    auth = {"Authorization": f"Bearer {key.raw}", "Cache-Control": "no-store"}

    def pids_serving(status: int) -> set[int]:
        return {
            line["pid"]
            for line in log_lines(log_path)
            if line.get("msg") == "request"
            and line.get("route") == "/chat"
            and line.get("status") == status
            and line.get("key_id", "revoke-001") == "revoke-001"
        }

    def until_both(status: int) -> None:
        for _ in range(400):
            r = httpx.post(url + "/chat", json=ASK, headers={**auth, "Connection": "close"})
            assert r.status_code == status, r.text
            if status == 401:
                assert r.json()["error"]["code"] == "key_revoked"
            if len(pids_serving(status)) == 2:
                return
        raise AssertionError(f"one worker answered 400 requests: {pids_serving(status)}")

    until_both(200)
    asyncio.run(_revoke(redis_url, key.record.id))
    until_both(401)


async def _revoke(redis_url: str, key_id: str) -> None:
    redis = aredis.from_url(redis_url)
    try:
        await KeyStore(redis).revoke([key_id], time.time())
    finally:
        await redis.aclose()
