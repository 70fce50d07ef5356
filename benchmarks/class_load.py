"""A class on one worker (issue #18): 200 students, each asking about once every 10 s.

    .venv/bin/python benchmarks/class_load.py [--seconds 60] [--students 200] [--json out.json]

The service at the feature defaults a class deployment runs (cache, guards with PII and
moderation in and out, rate limits, routing) in class mode, one key per student (each with
a budget it never reaches, the class a tenant with one too), one worker, real Redis 8. The
load is open loop at students / 10 requests per second (20/s for 200), each request from the
next student's key; every other request is one of 40 popular questions (an exact cache hit
once it has been asked), the others a question nobody asked before (a miss: embedding,
PII, moderation in and out, the upstream). Before the timed run each popular question is
asked once, one at a time (a class that has been running a while); `--cold` skips that, so
the first seconds are all misses at the full rate. The fake LLM answers at once (`--latency zero`),
so a request's latency is what the gateway adds, queueing included (latency counts from
the scheduled start). The requests go over students / 5 keep-alive connections (a browser
whose connection sat idle past uvicorn's 5 s keep-alive opens a new one; a load generator
that reuses it counts an error instead). CPU layout as benchmarks/overhead.py: the service on CPU 0; the fake
LLM, Redis and this load generator on CPU 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.loadgen import build_request, run
from benchmarks.overhead import HOST, cpu_seconds, spec_questions, start
from benchmarks.stats import percentile
from mock_llm import free_port

POPULAR = spec_questions(
    "memory bandwidth", "TDP", "NVLink bandwidth", "FP8 throughput", "memory size"
)
SETTINGS = {
    "CACHE_ENABLED": "true",
    "SAFETY_GUARDS": "true",
    "SAFETY_PII": "true",
    "RATE_LIMIT_ENABLED": "true",
    "ROUTING_ENABLED": "true",
    "CLASS_MODE": "true",
    "LOG_LEVEL": "info",  # the request log line, as deployed
    "ADMIN_TOKEN": "bench-admin",
}


def make_keys(redis_url: str, students: int) -> list[str]:
    import redis.asyncio as aredis

    from reference_service.keys import KeyStore

    async def make() -> list[str]:
        redis = aredis.from_url(redis_url)
        try:
            store = KeyStore(redis)
            keys = await store.create(students, "class", time.time(), budget_usd=1e6)
            await store.set_tenant("class", 1e6, "day")
            return [k.raw for k in keys]
        finally:
            await redis.aclose()

    return asyncio.run(make())


def request_factory(port: int, keys: list[str]):
    def make(i: int) -> bytes:
        if i % 2 == 0:
            question = POPULAR[(i // 2) % len(POPULAR)]
        else:
            question = f"In lab {i}, how many PCIe {i % 7 + 3}.0 lanes does slot {i} get?"
        body = {"model": "auto", "messages": [{"role": "user", "content": question}]}
        headers = {"Authorization": f"Bearer {keys[i % len(keys)]}"}
        return build_request(HOST, port, "/v1/chat/completions", body, headers)

    return make


# long: the run's set-up (Redis, fake LLM, keys, service) and its report, in order
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="start with an empty cache (default: the popular questions asked once first, "
        "as in a class that has been running a while)",
    )
    args = parser.parse_args()
    import os

    from tests.redis_server import RedisServer

    os.sched_setaffinity(0, {1})
    redis_server = RedisServer().start()
    psutil.Process(redis_server.proc.pid).cpu_affinity([1])
    mock_port = free_port()
    mock = start(
        [sys.executable, "-m", "mock_llm", "--port", str(mock_port), "--latency", "zero"],
        {},
        {1},
        f"http://{HOST}:{mock_port}/v1/models",
    )
    svc = None
    try:
        keys = make_keys(redis_server.url, args.students)
        port = free_port()
        env = {
            **SETTINGS,
            "REDIS_URL": redis_server.url,
            "OPENAI_BASE_URL": f"http://{HOST}:{mock_port}/v1",
            "OPENAI_API_KEY": "x",
        }
        cmd = [sys.executable, "-m", "reference_service", "--port", str(port), "--workers", "1"]
        svc = start(cmd, env, {0}, f"http://{HOST}:{port}/readyz")
        rate = args.students / 10
        n = int(rate * args.seconds)
        if not args.cold:  # each popular question once, one at a time, not measured
            warm = request_factory(port, keys)
            asyncio.run(
                run(HOST, port, lambda i: warm(2 * i), concurrency=1, requests=len(POPULAR))
            )
        cpu0 = cpu_seconds(svc)
        r = asyncio.run(
            run(
                HOST,
                port,
                request_factory(port, keys),
                # connections, not students: each is reused within uvicorn's 5 s keep-alive
                # (200 connections idle 10 s each: half the requests met a closed one)
                concurrency=max(10, args.students // 5),
                requests=n,
                rate=rate,
                time_limit_s=args.seconds * 3,
            )
        )
        cpu_ms = (cpu_seconds(svc) - cpu0) * 1000 / max(1, len(r.latencies))
        stats = httpx.get(
            f"http://{HOST}:{port}/admin/cache/stats",
            headers={"Authorization": "Bearer bench-admin"},
        ).json()
        rss = psutil.Process(svc.pid).memory_info().rss / 2**20
    finally:
        if svc is not None:
            svc.terminate()
            svc.wait(timeout=30)
        mock.terminate()
        mock.wait(timeout=10)
        redis_server.stop()
    # latencies in the order requests completed, in ten slices: where a cold start shows
    tenths = [
        r.latencies[i * len(r.latencies) // 10 : (i + 1) * len(r.latencies) // 10]
        for i in range(10)
    ]
    out = {
        "by_tenth_p50_ms": [round(percentile(t, 50) * 1000, 1) for t in tenths if t],
        "by_tenth_max_ms": [round(max(t) * 1000, 1) for t in tenths if t],
        "students": args.students,
        "cache_at_start": "empty" if args.cold else "popular questions asked once",
        "rate_per_s": rate,
        "requests": len(r.latencies),
        "achieved_rps": round(r.rps, 1),
        "p50_ms": round(r.pct(50) * 1000, 1),
        "p95_ms": round(r.pct(95) * 1000, 1),
        "p99_ms": round(r.pct(99) * 1000, 1),
        "max_ms": round(max(r.latencies) * 1000, 1) if r.latencies else None,
        "cpu_ms_per_request": round(cpu_ms, 2),
        "statuses": r.statuses,
        "errors": r.errors,
        "cache": {k: stats.get(k) for k in ("hits_exact", "hits_semantic", "misses")},
        "rss_mb": round(rss),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
