"""CPU and wall time of embedding one question, and the process's memory, per EMBEDDER_BACKEND.

    .venv/bin/python benchmarks/embedder_cpu.py [--rounds 3] [--n 200] [--cpu 0]

Each backend runs in a fresh process (so one's threads and memory do not touch another's),
pinned to one CPU like the service in benchmarks/overhead.py, loads the embedder as the
service does (`load_embedder`, warmed up), then embeds N questions one at a time, as a cache
miss does (`embed_one`), cycling through three of different lengths. The rounds alternate
the backends, so a busy spell on a shared machine hits them all. Printed per backend: the
median over rounds of the p50 CPU (user+system of the process) and wall time per question,
and the resident memory after the run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

QUESTIONS = [
    "What is BGP?",
    "How do I reset my password on the admin console?",
    "Can you explain how a BGP route reflector decides which routes to pass on to its clients?",
]


def one(backend: str, n: int) -> dict[str, float]:
    """In this process: load, warm, then time n single questions."""
    from reference_service.cache.embedder import load_embedder

    embedder = load_embedder(backend)
    for q in QUESTIONS:
        embedder.embed_one(q)
    cpu, wall = [], []
    for i in range(n):
        c0, w0 = time.process_time(), time.perf_counter()
        embedder.embed_one(QUESTIONS[i % len(QUESTIONS)])
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    with open(f"/proc/{os.getpid()}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return {
        "cpu_p50_ms": statistics.median(cpu) * 1000,
        "wall_p50_ms": statistics.median(wall) * 1000,
        "rss_mb": rss / 1024,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.n)))
        return
    runs: dict[str, list[dict[str, float]]] = {b: [] for b in args.backends}
    for _ in range(args.rounds):
        for b in args.backends:
            cmd = [sys.executable, __file__, "--one", b, "--n", str(args.n)]
            cmd = ["taskset", "-c", str(args.cpu), *cmd]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[b].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| backend | CPU ms per question, p50 | wall ms p50 | RSS MB after | rounds |")
    print("|---|---|---|---|---|")
    for b, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        spread = ", ".join(f"{r['cpu_p50_ms']:.1f}" for r in rs)
        print(
            f"| {b} | {med['cpu_p50_ms']:.2f} ({spread}) | {med['wall_p50_ms']:.2f} | "
            f"{med['rss_mb']:.0f} | {len(rs)} |"
        )


if __name__ == "__main__":
    main()
