"""Vector set options at 100k entries: what VSIM costs and how often a near duplicate is
found, for the index options Redis 8 offers (quantization, REDUCE by random projection,
HNSW M) and exploration factors.

    .venv/bin/python benchmarks/vector_set_options.py [--n 100000] [--queries 200]

Random unit vectors of 384 dimensions (all-MiniLM-L6-v2's size; random is the hardest case
for HNSW). A near duplicate is a stored vector perturbed to cosine ~0.95; "recall" is how
often it is among the COUNT 3 candidates the cache checks (the cache then re-checks every
candidate with the exact float32 cosine, so a reduced or quantized index only has to rank
it in the top 3). Starts its own Redis 8 (tests/redis_server.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.stats import percentile
from tests.redis_server import RedisServer

DIM = 384
OPTIONS = {  # name -> extra VADD arguments (before the vector / after the element)
    "Q8, M 16 (default)": ([], []),
    "Q8, REDUCE 128": (["REDUCE", "128"], []),
    "Q8, REDUCE 64": (["REDUCE", "64"], []),
    "Q8, M 8": ([], ["M", "8"]),
}


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--options", nargs="*", help="name prefixes")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = unit(rng.standard_normal((args.n, DIM)).astype(np.float32))
    picks = rng.choice(args.n, args.queries, replace=False)
    noise = unit(rng.standard_normal((args.queries, DIM)).astype(np.float32))
    # cos(q, v) ~ 0.95: q = 0.95 v + sqrt(1 - 0.95^2) n, n ~ orthogonal to v in 384 dims
    near = unit(0.95 * vectors[picks] + np.sqrt(1 - 0.95**2) * noise).astype(np.float32)
    with RedisServer() as server:
        r = redis.Redis(port=server.port)
        print(f"{args.n} vectors, {args.queries} near-duplicate queries (cosine ~0.95)\n")
        print("| index | fill s | EF | recall (top 3) | VSIM p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|")
        for name, (before, after) in OPTIONS.items():
            if args.options and not any(name.startswith(o) for o in args.options):
                continue
            key = f"vs:{len(before)}:{len(after)}:{name}"
            t0 = time.perf_counter()
            pipe = r.pipeline(transaction=False)
            for i, v in enumerate(vectors):
                pipe.execute_command("VADD", key, *before, "FP32", v.tobytes(), f"e{i}", *after)
                if i % 500 == 499:
                    pipe.execute()
            pipe.execute()
            fill = time.perf_counter() - t0
            for ef in (50, 100, 200):
                found, times = 0, []
                for q, idx in zip(near, picks, strict=True):
                    s = time.perf_counter()
                    res = r.execute_command("VSIM", key, "FP32", q.tobytes(), "COUNT", 3, "EF", ef)
                    times.append((time.perf_counter() - s) * 1000)
                    found += f"e{idx}".encode() in res
                print(
                    f"| {name} | {fill:.0f} | {ef} | {found / len(picks):.3f} | "
                    f"{percentile(times, 50):.2f} | {percentile(times, 99):.2f} |",
                    flush=True,
                )
            r.delete(key)


if __name__ == "__main__":
    main()
