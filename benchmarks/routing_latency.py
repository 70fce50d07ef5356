"""How long one routing decision takes (no embedding): p50/p99 over the labelled queries.

.venv/bin/python benchmarks/routing_latency.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.stats import percentile
from reference_service.routing import make_router

QUERIES = [
    json.loads(line)["query"]
    for line in (Path(__file__).parents[1] / "data" / "routing_queries.jsonl")
    .read_text()
    .splitlines()
]
ROUNDS = 50


def measure(name: str) -> dict:
    router = make_router(name)
    for q in QUERIES:  # warm up (regex compilation, weights)
        router.score(q)
    samples = []
    for _ in range(ROUNDS):
        for q in QUERIES:
            t = time.perf_counter_ns()
            router.score(q)
            samples.append((time.perf_counter_ns() - t) / 1000)
    return {
        "router": name,
        "n": len(samples),
        "p50_us": round(percentile(samples, 50), 1),
        "p99_us": round(percentile(samples, 99), 1),
        "max_us": round(max(samples), 1),
    }


if __name__ == "__main__":
    for name in ("lecture", "weighted"):
        print(json.dumps(measure(name)))
