"""Cache lookup latency at 1k, 10k and 100k entries: the lecture's design vs this cache.

    .venv/bin/python benchmarks/cache_lookup.py [--sizes 1000 10000 100000] [--queries 200]

Starts its own Redis 8 (tests/redis_server.py). Both caches get the same random unit
vectors (384-d, as all-MiniLM-L6-v2's); queries are other random vectors (misses: the
full search, the common case) and stored questions (exact hits).

- lecture: its layout (cache:emb:<id>, cache:ans:<id>, the list cache:index); a lookup
  reads the list, GETs every embedding and computes cosine in Python. Measured up to 10k.
- vector set: this service's SemanticCache.lookup (exact tier, then VSIM on the vector
  set, then the entry), with the embedding step excluded (vectors precomputed), and the
  embedding of one query measured on its own (all-MiniLM-L6-v2 on CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.stats import percentile
from reference_service.cache.store import CacheConfig, Entry, SemanticCache, entry_id
from reference_service.clock import SystemClock
from tests.redis_server import RedisServer

DIM = 384


def unit_vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def pct(samples: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
    }


# -- the lecture's cache ------------------------------------------------------------------
# Its layout (lecture section 3): cache:emb:<id> (the embedding as a JSON list) and
# cache:ans:<id> (the answer), both with a TTL, and the list cache:index of every id ever
# stored. A lookup reads the whole list, GETs each embedding (one round trip each), takes
# the dot product in Python, then GETs the best one's answer.
def lecture_fill(r, vectors: np.ndarray) -> None:
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(vectors):
        cache_id = f"{1_700_000_000 + i}_{i % 100000}"
        pipe.set(f"cache:emb:{cache_id}", json.dumps(v.tolist()), ex=3600)  # setex
        pipe.set(f"cache:ans:{cache_id}", f"answer {i}", ex=3600)
        pipe.rpush("cache:index", cache_id)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def lecture_lookup(r, q: np.ndarray, threshold: float = 0.95):
    best_id, best_sim = None, -1.0
    for raw in r.lrange("cache:index", 0, -1):
        cache_id = raw.decode()
        emb = r.get(f"cache:emb:{cache_id}")
        if not emb:
            continue
        sim = float(np.dot(q, np.array(json.loads(emb))))
        if sim > best_sim:
            best_id, best_sim = cache_id, sim
    if best_sim >= threshold and best_id:
        return r.get(f"cache:ans:{best_id}")
    return None


# -- this service's cache -----------------------------------------------------------------
class Vectors:
    """Stands in for the embedder: the benchmark's vectors, looked up by question."""

    def __init__(self) -> None:
        self.by_text: dict[str, np.ndarray] = {}

    async def aembed_one(self, text: str) -> np.ndarray:
        return self.by_text[text]


async def vs_fill(cache: SemanticCache, scope: str, vectors: np.ndarray) -> None:
    reduce = ["REDUCE", str(cache.config.reduce_dim)] if cache.config.reduce_dim else []
    """The store's key layout, written in pipelines (one store() per entry takes minutes)."""
    now = time.time()
    r = cache.redis
    for start in range(0, len(vectors), 500):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(start + 500, len(vectors))):
            q = f"stored question {i}"
            eid = entry_id(q)
            e = Entry(
                f"answer {i}",
                "m",
                q,
                10,
                100,
                "stop",
                now,
                now + 86400,
                base64.b64encode(vectors[i].tobytes()).decode(),
            )
            pipe.set(f"c:{scope}:x:{eid}", json.dumps(e.__dict__), ex=86400)
            pipe.execute_command("VADD", f"c:{scope}:v", *reduce, "FP32", vectors[i].tobytes(), eid)
            pipe.zadd(f"c:{scope}:t", {eid: now + 86400})
        await pipe.execute()


async def bench_vector_set(url: str, n: int, queries: int, reduce_dim: int = 128) -> dict:
    import redis.asyncio as aredis

    r = aredis.from_url(url)
    await r.flushdb()
    vecs = Vectors()
    cache = SemanticCache(
        r, vecs, SystemClock(), CacheConfig(similarity_threshold=0.93, reduce_dim=reduce_dim)
    )
    scope = f"bench{n}"
    stored = unit_vectors(n, seed=1)
    t = time.perf_counter()
    await vs_fill(cache, scope, stored)
    fill_s = time.perf_counter() - t
    probes = unit_vectors(queries, seed=2)
    for i, v in enumerate(probes):
        vecs.by_text[f"new question {i}"] = v
    # Near duplicates (cosine ~0.95 to a stored vector) must be found: how often the
    # stored one comes back first, and what the search costs, per HNSW exploration factor.
    rng = np.random.default_rng(3)
    sample = list(range(0, n, max(1, n // 200)))
    noisy = []
    for i in sample:
        v = stored[i] + 0.33 * rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM)
        noisy.append((v / np.linalg.norm(v)).astype(np.float32))
    by_ef = {}
    for ef in (50, 100, 200, 400):
        found, times = 0, []
        for i, v in zip(sample, noisy, strict=True):
            t = time.perf_counter()
            out = await r.execute_command(
                "VSIM", f"c:{scope}:v", "FP32", v.tobytes(), "COUNT", 3, "EF", ef
            )
            times.append((time.perf_counter() - t) * 1000)
            first = out[0].decode() if isinstance(out[0], bytes) else out[0]
            found += first == entry_id(f"stored question {i}")
        by_ef[ef] = {"near_duplicate_recall": round(found / len(sample), 3), **pct(times)}
    miss, exact, vsim = [], [], []
    for v in probes:  # the server's search alone, for the breakdown
        t = time.perf_counter()
        await r.execute_command(
            "VSIM",
            f"c:{scope}:v",
            "FP32",
            v.tobytes(),
            "WITHSCORES",
            "COUNT",
            3,
            "EF",
            cache.config.search_ef,
        )
        vsim.append((time.perf_counter() - t) * 1000)
    for i in range(queries):
        t = time.perf_counter()
        res = await cache.lookup(scope, f"new question {i}")
        miss.append((time.perf_counter() - t) * 1000)
        assert res.status == "MISS"
        t = time.perf_counter()
        res = await cache.lookup(scope, f"stored question {i * (n // queries)}")
        exact.append((time.perf_counter() - t) * 1000)
        assert res.status == "HIT" and res.tier == "exact"
    await r.aclose()
    return {
        "entries": n,
        "fill_s": round(fill_s, 1),
        "semantic_miss": pct(miss),
        "exact_hit": pct(exact),
        "vsim_round_trip": pct(vsim),
        "search_ef": by_ef,
    }


def bench_lecture(url: str, n: int, queries: int) -> dict:
    import redis

    r = redis.Redis.from_url(url)
    r.flushdb()
    lecture_fill(r, unit_vectors(n, seed=1))
    probes = unit_vectors(queries, seed=2)
    samples = []
    for v in probes:
        t = time.perf_counter()
        lecture_lookup(r, v)
        samples.append((time.perf_counter() - t) * 1000)
    r.close()
    return {"entries": n, "lookup": pct(samples)}


def bench_embedding(rounds: int = 200) -> dict:
    from reference_service.app import shared_embedder

    emb = shared_embedder()
    samples = []
    for i in range(rounds):
        t = time.perf_counter()
        emb.embed_one(f"What is the bandwidth of HBM3 stack number {i}?")
        samples.append((time.perf_counter() - t) * 1000)
    return pct(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--lecture-max", type=int, default=10_000)
    parser.add_argument("--lecture-only", action="store_true")
    parser.add_argument(
        "--reduce",
        type=int,
        default=128,
        help="VADD REDUCE dimensions, as CACHE_VECTOR_REDUCE (0: none)",
    )
    args = parser.parse_args()
    if not args.lecture_only:
        print(json.dumps({"embedding_one_query": bench_embedding()}), flush=True)
    with RedisServer() as server:
        for n in args.sizes:
            if n <= args.lecture_max:
                q = max(5, min(args.queries, 200_000 // n))
                print(
                    json.dumps({"lecture_index_scan": bench_lecture(server.url, n, q)}), flush=True
                )
            if args.lecture_only:
                continue
            result = asyncio.run(bench_vector_set(server.url, n, args.queries, args.reduce))
            print(json.dumps({"vector_set": result, "reduce": args.reduce}), flush=True)


if __name__ == "__main__":
    main()
