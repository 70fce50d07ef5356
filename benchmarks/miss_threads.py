"""Where a cache miss's (or a semantic hit's) CPU goes, by thread: the event loop's thread
(the HTTP, the upstream calls, Redis, the path) against the worker threads (Presidio's pass
and the embedding), and what those two models cost alone on the same texts.

    .venv/bin/python benchmarks/miss_threads.py [--seconds 15] [--semantic]

The service with everything on (the `make serve` defaults, a real Redis 8), one worker on
CPU 0; the fake LLM, Redis and this client on CPU 1. Every request a new question (the
overhead benchmark's misses, one client) for `--seconds`; with `--semantic`, the overhead
benchmark's 32 questions are stored first and every request is a new wording of one of them
(its semantic hits). Each thread's CPU time (psutil) is divided by the requests. Then, in
this process on CPU 0 once the service is stopped, Presidio's pass (each in a fresh context,
as the service runs it) and the embedding on the first 300 of those texts (docs/BENCHMARKS.md,
"Every case in one run").
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.loadgen import run
from benchmarks.overhead import (
    HOST,
    cache_counts,
    paraphrase,
    request_factory,
    service_env,
    start,
    stopped,
    store_semantic_bases,
)
from benchmarks.request_floors import per_text
from mock_llm import free_port

MISS, SEMANTIC = (
    "everything on (defaults)",
    "everything on (defaults), every request a semantic hit",
)


def thread_cpu(pid: int) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}


def the_models_alone(questions: list[str]) -> dict[str, float]:
    from reference_service.cache.embedder import load_embedder
    from reference_service.safety.recognizers import ENTITIES, shared_analyzer, use_analyzer_ops

    os.sched_setaffinity(0, {0})
    analyzer, embedder, entities = shared_analyzer(), load_embedder("onnx"), list(ENTITIES)

    def presidio(t: str) -> None:
        use_analyzer_ops()
        analyzer.analyze(t, language="en", entities=entities, score_threshold=0.4)

    for t in questions[:20]:  # warm
        embedder.embed_one(t)
    return {
        "Presidio's pass": per_text(lambda t: contextvars.Context().run(presidio, t), questions),
        "the embedding (onnx fp32)": per_text(embedder.embed_one, questions),
    }


def serve(config: str, cleanup: ExitStack) -> tuple[subprocess.Popen, int]:
    """Redis 8 and the fake LLM on CPU 1, the service (one worker, `config`) on CPU 0."""
    from tests.redis_server import RedisServer

    redis_server = RedisServer().start()
    cleanup.callback(redis_server.stop)
    psutil.Process(redis_server.proc.pid).cpu_affinity([1])
    mock_port, port = free_port(), free_port()
    mock = start(
        [sys.executable, "-m", "mock_llm", "--port", str(mock_port), "--latency", "zero"],
        {},
        {1},
        f"http://{HOST}:{mock_port}/v1/models",
    )
    cleanup.callback(stopped, mock, 10)
    env = service_env(config, mock_port, {"REDIS_URL": redis_server.url})
    cmd = [sys.executable, "-m", "reference_service", "--port", str(port), "--workers", "1"]
    svc = start(cmd, env, {0}, f"http://{HOST}:{port}/readyz")
    cleanup.callback(stopped, svc)
    return svc, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--semantic", action="store_true", help="semantic hits, not misses")
    args = parser.parse_args()
    config, case, cases = (
        (SEMANTIC, "semantic hit", "semantic hits") if args.semantic else (MISS, "miss", "misses")
    )
    os.sched_setaffinity(0, {1})
    with ExitStack() as cleanup:  # whatever started is stopped, even if a later step fails
        svc, port = serve(config, cleanup)
        if args.semantic:
            store_semantic_bases(port, "auto")
        warm = request_factory(port, config, phase="warm")
        asyncio.run(run(HOST, port, warm, concurrency=1, requests=50))
        before, counts_before = thread_cpu(svc.pid), cache_counts(port)
        measured = request_factory(port, config, phase="c10-")
        r = asyncio.run(  # a cap the time limit ends long before, at one client
            run(HOST, port, measured, concurrency=1, requests=2900, time_limit_s=args.seconds)
        )
        after, n = thread_cpu(svc.pid), len(r.latencies)
        counts_after = cache_counts(port)
    if counts_before is None or counts_after is None:
        raise RuntimeError("the service did not give its cache counters (/admin/cache/stats)")
    counted = {k: v - counts_before[k] for k, v in counts_after.items()}
    if set(r.statuses) != {200} or r.errors:
        raise RuntimeError(f"not every request answered: {r.statuses}, {r.errors} errors")
    ms = {tid: (v - before.get(tid, 0.0)) / n * 1000 for tid, v in after.items()}
    loop = ms.pop(svc.pid, 0.0)
    print(f"{n} {cases} at one client, statuses {r.statuses}; the cache counted {counted}")
    print(f"ms of CPU per {case}:")
    print(f"  the event loop's thread   {loop:6.2f}")
    print(f"  the other threads         {sum(ms.values()):6.2f}")
    print(f"  all                       {loop + sum(ms.values()):6.2f}")
    questions = (  # the requests' own wordings (overhead.request_factory, phase c10-)
        [paraphrase(400 + i) for i in range(300)]
        if args.semantic
        else [f"What is the bandwidth of PCIe {i}.0 x16 in lab c10-{i}?" for i in range(300)]
    )
    time.sleep(1)
    for name, cost in the_models_alone(questions).items():
        print(f"{name} alone on these questions: {cost:.2f} ms of CPU")


if __name__ == "__main__":
    main()
