"""Usage per key and per tenant, read from the ledger's counters (ledger.py): for
`GET /admin/usage`, the instructor's page and `python -m reference_service usage`.

Per key and per tenant: answered requests, tokens and cost paid upstream, cache hits and
what they saved, errors answered by type ("refusals": budget_exceeded, rate_limited,
key_revoked, upstream_timeout...), last seen, and the budget of the current period (limit,
spent, when it resets). Read in two pipelined round trips, whatever the number of keys.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from .budgets import Budget, iso_time, to_usd, window, zone
from .keys import KeyRecord, KeyStore, Names, TenantRecord, fields_of
from .redis_client import as_text

COUNTERS = ("requests", "prompt_tokens", "completion_tokens", "cache_hits")


def _usage(fields: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {name: int(fields.get(name) or 0) for name in COUNTERS}
    out["tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    out["cost_usd"] = to_usd(int(fields.get("cost_nano") or 0))
    out["saved_usd"] = to_usd(int(fields.get("saved_nano") or 0))
    refusals = {
        k.split(":", 1)[1]: int(v) for k, v in fields.items() if k.startswith("refused:") and int(v)
    }
    out["refusals"] = dict(sorted(refusals.items()))
    out["refused"] = sum(refusals.values())
    seen = fields.get("last_seen")
    out["last_seen"] = iso_time(float(seen)) if seen else None
    out["last_seen_unix"] = float(seen) if seen else None
    return out


# long: one report, its rows and totals built in one pass
async def report(
    redis: Any, now: float, timezone_name: str = "UTC", tenant: str | None = None
) -> dict[str, Any]:
    """Every key's and tenant's usage and budget (one tenant's only, if given)."""
    tz = zone(timezone_name)
    store = KeyStore(redis)
    stored = [as_text(x) or "" for x in await redis.zrange(Names.keys, 0, -1)]
    seen = sorted(as_text(x) or "" for x in await redis.smembers(Names.usage_keys))
    ids = stored + [i for i in seen if i not in set(stored)]  # API_KEYS keys after stored
    tenants = await store.tenant_names()
    async with redis.pipeline(transaction=False) as pipe:
        for key_id in ids:
            pipe.hgetall(Names.key(key_id))
            pipe.hgetall(Names.usage("key", key_id))
        for name in tenants:
            pipe.hgetall(Names.tenant(name))
            pipe.hgetall(Names.usage("tenant", name))
        replies = [fields_of(r) for r in await pipe.execute()]
    key_rows, budgets = [], []
    for i, key_id in enumerate(ids):
        record_fields, usage = replies[2 * i], replies[2 * i + 1]
        record = (
            KeyRecord.from_redis(record_fields)
            if record_fields
            else KeyRecord(key_id, usage.get("tenant", ""), status="env")
        )
        row = {
            "id": key_id,
            "tenant": record.tenant,
            "status": record.status,
            "rpm": record.rpm,
            "tpm": record.tpm,
            **_usage(usage),
        }
        key_rows.append(row)
        budgets.append((row, record.budget()))
    offset = 2 * len(ids)
    tenant_rows = []
    for j, name in enumerate(tenants):
        t = TenantRecord.from_redis(name, replies[offset + 2 * j])
        row = {
            "tenant": name,
            "keys": sum(1 for r in key_rows if r["tenant"] == name),
            **_usage(replies[offset + 2 * j + 1]),
        }
        tenant_rows.append(row)
        budgets.append((row, t.budget()))
    await _budgets(redis, budgets, now, tz)
    if tenant is not None:
        key_rows = [r for r in key_rows if r["tenant"] == tenant]
        tenant_rows = [r for r in tenant_rows if r["tenant"] == tenant]
    totals = {name: sum(r[name] for r in tenant_rows) for name in (*COUNTERS, "tokens", "refused")}
    totals["cost_usd"] = round(sum(r["cost_usd"] for r in tenant_rows), 9)
    totals["saved_usd"] = round(sum(r["saved_usd"] for r in tenant_rows), 9)
    totals["keys"] = len(key_rows)
    totals["active_keys_5min"] = sum(
        1 for r in key_rows if r["last_seen_unix"] and r["last_seen_unix"] >= now - 300
    )
    return {
        "generated_at": iso_time(now),
        "keys": key_rows,
        "tenants": tenant_rows,
        "totals": totals,
    }


async def _budgets(
    redis: Any, rows: list[tuple[dict[str, Any], Budget | None]], now: float, tz: Any
) -> None:
    """Add each row's budget for the current period: limit, spent, held, resets_at."""
    with_budget = [(row, b, window(b.period, now, tz)) for row, b in rows if b is not None]
    async with redis.pipeline(transaction=False) as pipe:
        for _, b, win in with_budget:
            pipe.hmget(Names.budget(b.scope, b.owner, win.id)[0], "spent", "held")
        replies = await pipe.execute()
    for row, _ in rows:
        row["budget"] = None
    for (row, b, win), (spent, held) in zip(with_budget, replies, strict=True):
        row["budget"] = {
            "limit_usd": b.limit_usd,
            "period": b.period,
            "spent_usd": to_usd(int(spent or 0)),
            "held_usd": to_usd(int(held or 0)),
            "resets_at": iso_time(win.ends_at),
        }


CSV_COLUMNS = (
    "id",
    "tenant",
    "status",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cache_hits",
    "saved_usd",
    "refused",
    "refusals",
    "last_seen",
    "budget_usd",
    "period",
    "spent_usd",
    "resets_at",
    "rpm",
    "tpm",
)


def to_csv(rows: list[dict[str, Any]], *, by: str = "key") -> str:
    """Usage rows as CSV (one line per key, or per tenant with by="tenant"); refusals as
    `kind=n` pairs separated by semicolons."""
    columns = CSV_COLUMNS if by == "key" else ("tenant", "keys", *CSV_COLUMNS[3:-2])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        budget = row.get("budget") or {}
        writer.writerow(
            {
                **row,
                "refusals": ";".join(f"{k}={v}" for k, v in row["refusals"].items()),
                "cost_usd": f"{row['cost_usd']:.6f}",
                "saved_usd": f"{row['saved_usd']:.6f}",
                "budget_usd": budget.get("limit_usd", ""),
                "period": budget.get("period", ""),
                "spent_usd": f"{budget['spent_usd']:.6f}" if budget else "",
                "resets_at": budget.get("resets_at") or "",
                "last_seen": row.get("last_seen") or "",
            }
        )
    return out.getvalue()
