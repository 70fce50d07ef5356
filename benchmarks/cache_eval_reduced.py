"""The cache eval pairs through a real Redis 8 with the projected index (REDUCE 128, as
deployed) against the embedded cache (fakeredis, full dimensions): do any outcomes differ?

    .venv/bin/python benchmarks/cache_eval_reduced.py

Same pairs, same cache code, a fresh scope per pair (store a, look up b), threshold 0.93.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import redis.asyncio as aredis

sys.path.insert(0, str(Path(__file__).parents[1]))

from reference_service.app import shared_embedder
from reference_service.cache.evaluate import PrecomputedEmbedder, load_pairs, run_pairs, score
from reference_service.cache.store import CacheConfig, SemanticCache
from reference_service.clock import SystemClock
from tests.redis_server import RedisServer


async def on_real_redis(pairs, url: str, embedder) -> list[bool]:
    r = aredis.from_url(url)
    cache = SemanticCache(
        r,
        embedder,
        SystemClock(),
        CacheConfig(similarity_threshold=0.93, candidates=1, reduce_dim=128),
    )
    hits = []
    for i, p in enumerate(pairs):
        await cache.store(f"e{i}", p.a, f"answer {i}", model="eval")
        hits.append((await cache.lookup(f"e{i}", p.b)).status == "HIT")
    await r.aclose()
    return hits


def main() -> None:
    for path in ("data/cache_pairs.jsonl", "../shared/data/qqp_dev.jsonl"):
        if not Path(path).exists():
            continue
        pairs = load_pairs(Path(path))
        base = asyncio.run(run_pairs(pairs, shared_embedder(), 0.93))
        emb = PrecomputedEmbedder(shared_embedder(), [t for p in pairs for t in (p.a, p.b)])
        with RedisServer() as server:
            hits = asyncio.run(on_real_redis(pairs, server.url, emb))
        differ = sum(o.hit != h for o, h in zip(base, hits, strict=True))
        s = score(base)
        print(
            f"{path}: {len(pairs)} pairs; hits embedded {sum(o.hit for o in base)}, real "
            f"Redis REDUCE 128 {sum(hits)}; outcomes that differ: {differ} "
            f"(precision {s['precision']}, recall {s['recall']})"
        )


if __name__ == "__main__":
    main()
