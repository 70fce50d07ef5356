"""API keys for class mode, kept in Redis as hashes (`python -m reference_service keys ...`).

A key is `sk-<prefix>-<43 random characters>` (32 random bytes, URL-safe base64). Redis keeps
only its SHA-256 and a record under a public id (`cs101-017`): the tenant, the key's limits
and budget, and whether it is active or revoked. The raw key is shown once, when it is made
(or rotated), and never stored or logged; logs and the usage report name the id.

Why a plain SHA-256 and not a slow password hash (bcrypt, scrypt, argon2): those exist to
make guessing low-entropy passwords expensive. A key here is 256 random bits; nobody can
guess it or invert its hash, slow or fast. A slow hash would only cost every request tens
of milliseconds of CPU on the event loop. A keyed hash (HMAC with a server secret) would add
nothing for random input and a secret to manage. What the hash buys is that a Redis dump, a
backup or `MONITOR` output holds no working key.

Every worker and replica reads the same records, on every request (no cache in the
process), so a revoked key is refused on its next request everywhere. The embedded fakeredis
lives inside one server process and the command line cannot reach it: class mode needs a
real Redis (REDIS_URL).

All Redis names of class mode are made here (`Names`), under one prefix, `class:`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from .budgets import PERIODS, Budget, Period, iso_time
from .redis_client import as_text

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"  # prefixes, tenants: safe in keys, CSV, labels
_NAME = re.compile(NAME_PATTERN)


class Names:
    """Redis key names of class mode."""

    ns = "class:"
    keys = ns + "keys"  # sorted set: key ids by creation time
    tenants = ns + "tenants"  # set: tenants that have keys or a budget
    usage_keys = ns + "usage:keys"  # set: key ids with usage (API_KEYS keys included)
    usage_tenants = ns + "usage:tenants"

    @classmethod
    def key(cls, key_id: str) -> str:
        return f"{cls.ns}key:{key_id}"

    @classmethod
    def by_hash(cls, digest: str) -> str:
        return f"{cls.ns}keyhash:{digest}"

    @classmethod
    def sequence(cls, prefix: str) -> str:
        return f"{cls.ns}seq:{prefix}"

    @classmethod
    def tenant(cls, name: str) -> str:
        return f"{cls.ns}tenant:{name}"

    @classmethod
    def usage(cls, scope: str, owner: str) -> str:
        return f"{cls.ns}usage:{scope}:{owner}"

    @classmethod
    def budget(cls, scope: str, owner: str, window_id: str) -> tuple[str, str, str]:
        """A budget period's state (spent, held, overflow), its holds and their leases."""
        base = f"{cls.ns}budget:{scope}:{owner}:{window_id}"
        return base, base + ":holds", base + ":leases"


def digest(raw_key: str) -> str:
    """What Redis keeps of a key."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_raw_key(prefix: str) -> str:
    return f"sk-{prefix}-{secrets.token_urlsafe(32)}"


def env_key_id(raw_key: str) -> str:
    """The public id of an API_KEYS key (the environment's keys have no stored record)."""
    return "env-" + digest(raw_key)[:10]


def check_name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{kind} {value!r}: 1-32 characters, letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return value


@dataclass
class KeyRecord:
    """What the store knows about a key (never the key itself)."""

    id: str
    tenant: str
    status: str = "active"  # active | revoked
    created: float = 0.0
    rpm: int | None = None  # None: the service's RATE_LIMIT_RPM
    tpm: int | None = None
    budget_usd: float | None = None  # None: no budget of its own
    period: Period = "total"
    revoked_at: float | None = None
    rotated_at: float | None = None

    def budget(self) -> Budget | None:
        if self.budget_usd is None:
            return None
        return Budget("key", self.id, self.budget_usd, self.period)

    def public(self) -> dict[str, Any]:
        """The record for people: times in ISO 8601 (UTC)."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "status": self.status,
            "created": iso_time(self.created),
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "period": self.period,
            "revoked_at": iso_time(self.revoked_at),
            "rotated_at": iso_time(self.rotated_at),
        }

    @classmethod
    def from_redis(cls, fields: dict[str, str]) -> KeyRecord:
        def num(name: str, kind: type) -> Any:
            value = fields.get(name)
            return kind(value) if value not in (None, "") else None

        return cls(
            id=fields["id"],
            tenant=fields["tenant"],
            status=fields.get("status", "active"),
            created=num("created", float) or 0.0,
            rpm=num("rpm", int),
            tpm=num("tpm", int),
            budget_usd=num("budget_usd", float),
            period=_period(fields.get("period")),
            revoked_at=num("revoked_at", float),
            rotated_at=num("rotated_at", float),
        )


@dataclass
class TenantRecord:
    name: str
    budget_usd: float | None = None
    period: Period = "total"

    def budget(self) -> Budget | None:
        if self.budget_usd is None:
            return None
        return Budget("tenant", self.name, self.budget_usd, self.period)

    @classmethod
    def from_redis(cls, name: str, fields: dict[str, str]) -> TenantRecord:
        value = fields.get("budget_usd")
        return cls(name, float(value) if value else None, _period(fields.get("period")))


@dataclass
class Found:
    """A key presented on a request: its record and its tenant's."""

    key: KeyRecord
    tenant: TenantRecord


@dataclass
class NewKey:
    record: KeyRecord
    raw: str = field(repr=False)  # shown once, never stored


def _period(value: str | None) -> Period:
    return value if value in PERIODS else "total"


def fields_of(reply: Any) -> dict[str, str]:
    """HGETALL's reply (a dict, or a flat list from Lua) as text."""
    if isinstance(reply, dict):
        return {as_text(k) or "": as_text(v) or "" for k, v in reply.items()}
    items = [as_text(x) or "" for x in reply]
    return dict(zip(items[::2], items[1::2], strict=False))


# One round trip per request: the key's record and its tenant's. A revoked key's refusal is
# counted in its usage here, atomically with the lookup. (The record and usage names are
# derived from the id inside the script: fine on one Redis, not on a Redis Cluster.)
LOOKUP_LUA = """
local id = redis.call('GET', KEYS[1])
if not id then return {} end
local ns, now = ARGV[1], ARGV[2]
local rec = redis.call('HGETALL', ns .. 'key:' .. id)
if #rec == 0 then return {} end
local tenant, status = nil, 'active'
for i = 1, #rec, 2 do
  if rec[i] == 'tenant' then tenant = rec[i + 1] end
  if rec[i] == 'status' then status = rec[i + 1] end
end
if status == 'revoked' then
  for _, usage in ipairs({ns .. 'usage:key:' .. id, ns .. 'usage:tenant:' .. tenant}) do
    redis.call('HINCRBY', usage, 'refused:key_revoked', 1)
    redis.call('HSET', usage, 'last_seen', now)
  end
  redis.call('HSET', ns .. 'usage:key:' .. id, 'tenant', tenant)
  redis.call('SADD', ns .. 'usage:keys', id)
  redis.call('SADD', ns .. 'usage:tenants', tenant)
end
return {rec, redis.call('HGETALL', ns .. 'tenant:' .. tenant)}
"""

# A new secret for a key: the old hash stops working and the new one starts in one step.
# KEYS[1]: the key's record. ARGV: namespace, new digest, now. Returns 0 if no such key.
ROTATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ns = ARGV[1]
local old = redis.call('HGET', KEYS[1], 'hash')
if old then redis.call('DEL', ns .. 'keyhash:' .. old) end
redis.call('SET', ns .. 'keyhash:' .. ARGV[2], redis.call('HGET', KEYS[1], 'id'))
redis.call('HSET', KEYS[1], 'hash', ARGV[2], 'status', 'active', 'rotated_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'revoked_at')
return 1
"""


class UnknownKey(LookupError):
    """An id the store has no record of."""


class KeyStore:
    """Keys and tenants of class mode, in Redis."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._lookup = redis.register_script(LOOKUP_LUA)
        self._rotate = redis.register_script(ROTATE_LUA)

    # -- the request path ------------------------------------------------------------
    async def lookup(self, raw_key: str, now: float) -> Found | None:
        """The record of the key presented (active or revoked), or None if unknown."""
        reply = await self._lookup(
            keys=[Names.by_hash(digest(raw_key))], args=[Names.ns, f"{now:.3f}"]
        )
        if not reply:
            return None
        key = KeyRecord.from_redis(fields_of(reply[0]))
        return Found(key, TenantRecord.from_redis(key.tenant, fields_of(reply[1])))

    async def tenant(self, name: str) -> TenantRecord:
        reply = await self.redis.hgetall(Names.tenant(name))
        return TenantRecord.from_redis(name, fields_of(reply))

    # -- administration (the command line) --------------------------------------------
    async def create(
        self,
        n: int,
        prefix: str,
        now: float,
        *,
        tenant: str | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        period: Period = "total",
        tenant_per_key: bool = False,
    ) -> list[NewKey]:
        """Make `n` keys `<prefix>-001`, `-002`, ... (numbering goes on from earlier ones),
        of one tenant (default: the prefix), or each its own (`tenant_per_key`: the key's
        id; its cached answers are then its own)."""
        check_name("prefix", prefix)
        tenant = check_name("tenant", tenant or prefix)
        last = int(await self.redis.incrby(Names.sequence(prefix), n))
        width = max(3, len(str(last)))
        made = []
        async with self.redis.pipeline(transaction=True) as pipe:
            for number in range(last - n + 1, last + 1):
                raw = new_raw_key(prefix)
                key_id = f"{prefix}-{number:0{width}d}"
                record = KeyRecord(
                    key_id,
                    key_id if tenant_per_key else tenant,
                    "active",
                    now,
                    rpm,
                    tpm,
                    budget_usd,
                    period,
                )
                pipe.set(Names.by_hash(digest(raw)), record.id)
                pipe.hset(Names.key(record.id), mapping=self._mapping(record, digest(raw)))
                pipe.zadd(Names.keys, {record.id: now})
                pipe.sadd(Names.tenants, record.tenant)
                made.append(NewKey(record, raw))
            await pipe.execute()
        return made

    @staticmethod
    def _mapping(record: KeyRecord, key_hash: str) -> dict[str, str]:
        out = {
            "id": record.id,
            "tenant": record.tenant,
            "status": record.status,
            "created": f"{record.created:.3f}",
            "hash": key_hash,
            "period": record.period,
        }
        for name in ("rpm", "tpm", "budget_usd"):
            value = getattr(record, name)
            if value is not None:
                out[name] = str(value)
        return out

    async def get(self, key_id: str) -> KeyRecord:
        fields = fields_of(await self.redis.hgetall(Names.key(key_id)))
        if not fields:
            raise UnknownKey(key_id)
        return KeyRecord.from_redis(fields)

    async def ids(self, tenant: str | None = None) -> list[str]:
        """Every stored key's id, oldest first (of one tenant, if given)."""
        ids = [as_text(x) or "" for x in await self.redis.zrange(Names.keys, 0, -1)]
        if tenant is None:
            return ids
        return [r.id for r in await self.records(ids) if r.tenant == tenant]

    async def records(self, ids: list[str]) -> list[KeyRecord]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key_id in ids:
                pipe.hgetall(Names.key(key_id))
            replies = await pipe.execute()
        return [KeyRecord.from_redis(fields_of(r)) for r in replies if r]

    async def revoke(self, ids: list[str], now: float) -> list[KeyRecord]:
        """Refuse these keys from their next request on (their usage is kept)."""
        for key_id in ids:
            await self.get(key_id)  # UnknownKey before anything changes
        async with self.redis.pipeline(transaction=True) as pipe:
            for key_id in ids:
                pipe.hset(
                    Names.key(key_id), mapping={"status": "revoked", "revoked_at": f"{now:.3f}"}
                )
            await pipe.execute()
        return await self.records(ids)

    async def rotate(self, ids: list[str], now: float) -> list[NewKey]:
        """A new secret for each key (same id, limits, budget and usage); the old secret is
        refused from its next request on. A revoked key comes back active."""
        for key_id in ids:
            await self.get(key_id)
        made = []
        for key_id in ids:
            record = await self.get(key_id)
            raw = new_raw_key(record.id.rsplit("-", 1)[0])
            if not await self._rotate(
                keys=[Names.key(key_id)], args=[Names.ns, digest(raw), f"{now:.3f}"]
            ):
                raise UnknownKey(key_id)
            made.append(NewKey(await self.get(key_id), raw))
        return made

    async def update(
        self,
        ids: list[str],
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        clear_budget: bool = False,
        period: Period | None = None,
    ) -> list[KeyRecord]:
        """Change the limits or the budget of keys (from their next request on)."""
        for key_id in ids:
            await self.get(key_id)
        changes = {
            name: str(value)
            for name, value in (
                ("rpm", rpm),
                ("tpm", tpm),
                ("budget_usd", budget_usd),
                ("period", period),
            )
            if value is not None
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            for key_id in ids:
                if changes:
                    pipe.hset(Names.key(key_id), mapping=changes)
                if clear_budget:
                    pipe.hdel(Names.key(key_id), "budget_usd")
            await pipe.execute()
        return await self.records(ids)

    async def set_tenant(
        self, name: str, budget_usd: float | None, period: Period = "total"
    ) -> TenantRecord:
        """Set (or with None, remove) a tenant's budget."""
        check_name("tenant", name)
        async with self.redis.pipeline(transaction=True) as pipe:
            if budget_usd is None:
                pipe.hdel(Names.tenant(name), "budget_usd", "period")
            else:
                pipe.hset(
                    Names.tenant(name), mapping={"budget_usd": str(budget_usd), "period": period}
                )
            pipe.sadd(Names.tenants, name)
            await pipe.execute()
        return await self.tenant(name)

    async def tenant_names(self) -> list[str]:
        names = await self.redis.sunion(Names.tenants, Names.usage_tenants)
        return sorted(as_text(x) or "" for x in names)
