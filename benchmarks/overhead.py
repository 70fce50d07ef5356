"""What the gateway adds: latency, time to first byte, CPU per request, throughput.

    .venv/bin/python benchmarks/overhead.py [--quick] [--json results.json]

Processes, pinned on a 2-core machine like the LiteLLM figures in issue #8 (the service on
one core, the fake upstream on the other): the fake LLM (`python -m mock_llm --latency zero`)
and this load generator on CPU 1, the service (`python -m reference_service`, 1 worker) on
CPU 0; with 2 workers the service gets both cores. Requests are POST /v1/chat/completions
with a pinned model, the same body direct to the fake LLM and through the service, so
"added" is the service's cost. CPU per request is the service's user+system CPU time over
a closed-loop run divided by its requests.

Configurations: `bare` (cache, guards, rate limits and routing off; the circuit breaker,
which is always on, still makes its two Redis calls per request), then one feature at a
time on top of bare, then everything on (the reference deployment's defaults). Redis is a
real Redis 8 on CPU 1 by default (`--redis embedded`: the in-process fakeredis).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.loadgen import build_request, run
from mock_llm import free_port

HOST = "127.0.0.1"
ADMIN_TOKEN = "overhead-bench"  # to read back the cache's hits and misses
BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What is the bandwidth of PCIe 5.0 x16?"}],
}
BARE = {
    "CACHE_ENABLED": "false",
    "SAFETY_GUARDS": "false",
    "SAFETY_PII": "false",
    "RATE_LIMIT_ENABLED": "false",
    "ROUTING_ENABLED": "false",
}
CONFIGS = {
    "bare": {},
    "+ rate limits": {"RATE_LIMIT_ENABLED": "true"},
    "+ routing (model auto)": {"ROUTING_ENABLED": "true"},
    "+ cache, every request a miss": {"CACHE_ENABLED": "true"},
    # The same, with each embedder backend named (the row above uses the default).
    **{
        f"+ cache, every request a miss, EMBEDDER_BACKEND={b}": {
            "CACHE_ENABLED": "true",
            "EMBEDDER_BACKEND": b,
        }
        for b in ("torch", "onnx", "onnx-int8")
    },
    "+ cache, every request an exact hit": {"CACHE_ENABLED": "true"},
    "+ PII (Presidio)": {
        "SAFETY_GUARDS": "true",
        "SAFETY_PII": "true",
        "SAFETY_MODERATE_INPUT": "false",
        "SAFETY_MODERATE_OUTPUT": "false",
    },
    "+ moderation in and out": {"SAFETY_GUARDS": "true", "SAFETY_PII": "false"},
    # A key made in Redis, with a budget of its own and its tenant's (never reached): the
    # key's lookup, the budgets' hold and the charge with usage, three Lua calls.
    "+ class mode (stored key, two budgets)": {"CLASS_MODE": "true"},
    "everything on (defaults)": {
        "CACHE_ENABLED": "true",
        "SAFETY_GUARDS": "true",
        "SAFETY_PII": "true",
        "RATE_LIMIT_ENABLED": "true",
        "ROUTING_ENABLED": "true",
    },
    # The same, each question embedded in its own forward pass, one pass at a time (before
    # batching, passes ran side by side in threads: on a worker pinned to one core, the same
    # CPU, though not the same latency): compare the c10 and c50 rows.
    "everything on, one embedding a pass (EMBEDDER_MAX_BATCH=1)": {
        "CACHE_ENABLED": "true",
        "SAFETY_GUARDS": "true",
        "SAFETY_PII": "true",
        "RATE_LIMIT_ENABLED": "true",
        "ROUTING_ENABLED": "true",
        "EMBEDDER_MAX_BATCH": "1",
    },
    # The same settings, the same question every time: the exact tier answers (after the
    # PII pass, the router, the limiter and input moderation, which run before the lookup).
    "everything on (defaults), every request an exact hit": {
        "CACHE_ENABLED": "true",
        "SAFETY_GUARDS": "true",
        "SAFETY_PII": "true",
        "RATE_LIMIT_ENABLED": "true",
        "ROUTING_ENABLED": "true",
    },
    # 32 questions stored first; then every request a wording of one of them not sent
    # before (a filler before and after it): the semantic tier answers, after the PII pass,
    # input moderation, the embedding and the verifier. The observed hits and misses are
    # read back from /admin/cache/stats.
    "everything on (defaults), every request a semantic hit": {
        "CACHE_ENABLED": "true",
        "SAFETY_GUARDS": "true",
        "SAFETY_PII": "true",
        "RATE_LIMIT_ENABLED": "true",
        "ROUTING_ENABLED": "true",
    },
}
GPUS = ("H100 SXM", "A100 80GB", "L40S", "H200", "B200", "MI300X", "RTX 6000 Ada", "L4")


def spec_questions(*whats: str) -> list[str]:
    """ "What is the <what> of the <gpu>?" for each of GPUS (the benchmarks' stored questions)."""
    return [f"What is the {what} of the {gpu}?" for what in whats for gpu in GPUS]


SEMANTIC_BASES = spec_questions(
    "memory bandwidth", "NVLink bandwidth", "FP8 throughput", "memory size"
)
_PREFIXES = ["hey, ", "hi, ", "quick question: ", "so ", "ok, ", "hello, ", "sorry, "]
_PREFIXES += ["well, ", "question: ", "hi there, ", "hey there, ", ""]
_SUFFIXES = [" thanks", " please", " thank you", " cheers", " if you know", " thanks a lot"]
_SUFFIXES += [" please help", " many thanks", " thx", " in short", " briefly", " anyone", ""]
# each phase of `measure` its own wordings: a wording asked twice would be an exact hit
_PHASE_OFFSET = {"warm": 0, "c1-": 100, "c10-": 400, "c50-": 1400, "stream-": 3400, "steady-": 3700}


def paraphrase(n: int) -> str:
    """The n-th wording (n < 32 x 12 x 13) of one of the stored questions."""
    base = SEMANTIC_BASES[n % len(SEMANTIC_BASES)]
    k = n // len(SEMANTIC_BASES)
    pre, suf = _PREFIXES[k % len(_PREFIXES)], _SUFFIXES[k // len(_PREFIXES) % len(_SUFFIXES)]
    text = pre + base[0].lower() + base[1:] if pre else base
    return text.rstrip("?") + suf + "?" if suf else text


def start(cmd: list[str], env: dict, cpus: set[int], ready_url: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    psutil.Process(proc.pid).cpu_affinity(sorted(cpus))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.cpu_affinity(sorted(cpus))
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


def stopped(proc: subprocess.Popen, timeout: float = 30) -> None:
    proc.terminate()
    proc.wait(timeout=timeout)


def service_env(config: str, mock_port: int, redis_env: dict[str, str]) -> dict[str, str]:
    """The service's environment in these benchmarks: BARE, then `config`'s settings, Redis,
    the fake LLM, quiet logs, the admin token (to read the cache's counters back), and rate
    limits that count but never stop a request."""
    return {
        **BARE,
        **CONFIGS[config],
        **redis_env,
        "OPENAI_BASE_URL": f"http://{HOST}:{mock_port}/v1",
        "OPENAI_API_KEY": "x",
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_RPM": "1000000000",
        "RATE_LIMIT_TPM": "1000000000",
        "ADMIN_TOKEN": ADMIN_TOKEN,
    }


def store_semantic_bases(port: int, model: str, headers: dict[str, str] | None = None) -> None:
    """The questions the semantic-hit wordings are answered from, one request each."""

    def base(i: int) -> bytes:
        b = dict(BODY, model=model, messages=[{"role": "user", "content": SEMANTIC_BASES[i]}])
        return build_request(HOST, port, "/v1/chat/completions", b, headers)

    asyncio.run(run(HOST, port, base, concurrency=1, requests=len(SEMANTIC_BASES)))


def cache_counts(port: int) -> dict[str, int] | None:
    """The cache's hits and misses so far, from the service's own counters (None: the
    service has no cache, or no admin endpoint)."""
    stats = httpx.get(
        f"http://{HOST}:{port}/admin/cache/stats",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    if stats.status_code != 200:
        return None
    return {k: stats.json().get(k) for k in ("hits_exact", "hits_semantic", "misses")}


def cpu_seconds(proc: subprocess.Popen) -> float:
    procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    return sum(p.cpu_times().user + p.cpu_times().system for p in procs)


def request_factory(
    port: int,
    config: str,
    stream: bool = False,
    phase: str = "",
    headers: dict[str, str] | None = None,
):
    body = dict(BODY, stream=True) if stream else BODY
    if config.startswith("+ routing") or config.startswith("everything"):
        body = dict(body, model="auto")
    if "semantic hit" in config:
        offset = _PHASE_OFFSET[phase]

        def wording(i: int) -> bytes:
            q = paraphrase(offset + i)
            b = dict(body, messages=[{"role": "user", "content": q}])
            return build_request(HOST, port, "/v1/chat/completions", b, headers)

        return wording
    if "miss" in config or (config.startswith("everything") and "hit" not in config):

        def make(i: int) -> bytes:  # a new question each time: always a miss
            b = dict(
                body,
                messages=[
                    {
                        "role": "user",
                        "content": f"What is the bandwidth of PCIe {i}.0 x16 in lab {phase}{i}?",
                    }
                ],
            )
            return build_request(HOST, port, "/v1/chat/completions", b, headers)

        return make
    return build_request(HOST, port, "/v1/chat/completions", body, headers)


def class_key(redis_url: str) -> dict[str, str]:
    """A key for the class-mode configuration, with budgets it never reaches."""
    import redis.asyncio as aredis

    from reference_service.keys import KeyStore

    async def make() -> str:
        redis = aredis.from_url(redis_url)
        try:
            store = KeyStore(redis)
            (key,) = await store.create(1, "bench", time.time(), budget_usd=1e6)
            await store.set_tenant("bench", 1e6, "day")
            return key.raw
        finally:
            await redis.aclose()

    return {"Authorization": f"Bearer {asyncio.run(make())}"}


# long: each phase of a configuration's measurement in order (warm-up, c1/c10/c50, stream, steady)
def measure(
    port: int,
    config: str,
    quick: bool,
    proc: subprocess.Popen | None,
    headers: dict[str, str] | None = None,
) -> dict:
    n = {1: 300, 10: 1000, 50: 2000} if not quick else {1: 100, 10: 300, 50: 500}
    out = {}
    if "semantic hit" in config:  # the questions its wordings are answered from
        model = "auto" if config.startswith("everything") else BODY["model"]
        store_semantic_bases(port, model, headers)
    asyncio.run(
        run(
            HOST,
            port,
            request_factory(port, config, phase="warm", headers=headers),
            concurrency=4,
            requests=100,
        )
    )
    for c, count in n.items():
        req = request_factory(port, config, phase=f"c{c}-", headers=headers)  # new questions
        cpu0 = cpu_seconds(proc) if proc else 0.0
        r = asyncio.run(run(HOST, port, req, concurrency=c, requests=count, time_limit_s=60))
        cpu = (cpu_seconds(proc) - cpu0) / max(1, len(r.latencies)) if proc else 0.0
        bad = {k: v for k, v in r.statuses.items() if k != 200}
        out[f"c{c}"] = {
            "p50_ms": r.pct(50) * 1000,
            "p95_ms": r.pct(95) * 1000,
            "p99_ms": r.pct(99) * 1000,
            "rps": r.rps,
            "cpu_ms": cpu * 1000,
            "n": len(r.latencies),
            "errors": r.errors,
            "non_200": bad,
        }
    sreq = request_factory(port, config, stream=True, phase="stream-", headers=headers)
    r = asyncio.run(run(HOST, port, sreq, concurrency=1, requests=n[1]))
    out["stream_c1"] = {
        "ttfb_p50_ms": r.pct(50, r.first_bytes) * 1000,
        "ttfb_p99_ms": r.pct(99, r.first_bytes) * 1000,
        "p50_ms": r.pct(50) * 1000,
    }
    req = request_factory(port, config, phase="steady-", headers=headers)
    r = asyncio.run(
        run(HOST, port, req, concurrency=50, requests=n[50] // 2, rate=50, time_limit_s=60)
    )
    out["steady_50rps"] = {
        "p50_ms": r.pct(50) * 1000,
        "p99_ms": r.pct(99) * 1000,
        "n": len(r.latencies),
    }
    if ("hit" in config or "miss" in config) and (counts := cache_counts(port)) is not None:
        out["cache"] = counts  # what the cache really answered
    if proc:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        out["rss_mb"] = {p.name() + f" {p.pid}": p.memory_info().rss / 2**20 for p in tree}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--configs", nargs="*", help="names (prefixes) of configurations")
    parser.add_argument("--exact", action="store_true", help="--configs are whole names")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--redis",
        choices=["real", "embedded"],
        default="real",
        help="real: a Redis 8 server on CPU 1 (as deployed); embedded: "
        "the in-process fakeredis of `make serve`",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})  # the load generator shares CPU 1 with the fake LLM
    redis_env = {}
    redis_server = None
    if args.redis == "real":
        from tests.redis_server import RedisServer

        redis_server = RedisServer().start()
        psutil.Process(redis_server.proc.pid).cpu_affinity([1])
        redis_env = {"REDIS_URL": redis_server.url}

    mock_port = free_port()
    mock = start(
        [
            sys.executable,
            "-m",
            "mock_llm",
            "--port",
            str(mock_port),
            "--latency",
            "zero",
            "--log-level",
            "warning",
        ],
        {},
        {1},
        f"http://{HOST}:{mock_port}/v1/models",
    )
    results: dict = {}
    try:
        print("direct to the fake LLM ...", flush=True)
        results["direct"] = measure(mock_port, "direct", args.quick, None)
        for workers in args.workers:
            for name, env in CONFIGS.items():
                if args.configs and not any(name.startswith(c) for c in args.configs):
                    continue
                if args.exact and name not in (args.configs or []):
                    continue
                if workers > 1 and name not in ("bare", "everything on (defaults)"):
                    continue
                if redis_server is not None:  # the "miss" rows send the same questions
                    import redis

                    redis.Redis.from_url(redis_server.url).flushall()
                headers = None
                if env.get("CLASS_MODE"):
                    if redis_server is None:
                        print(f"{name}: skipped (class mode needs --redis real)")
                        continue
                    headers = class_key(redis_server.url)
                port = free_port()
                cpus = {0} if workers == 1 else {0, 1}
                svc = start(
                    [
                        sys.executable,
                        "-m",
                        "reference_service",
                        "--port",
                        str(port),
                        "--workers",
                        str(workers),
                        "--log-level",
                        "warning",
                    ],
                    service_env(name, mock_port, redis_env),
                    cpus,
                    f"http://{HOST}:{port}/readyz",
                )
                try:
                    label = f"{name} [{workers}w]"
                    print(f"{label} ...", flush=True)
                    results[label] = measure(port, name, args.quick, svc, headers)
                finally:
                    svc.terminate()
                    svc.wait(timeout=30)
    finally:
        mock.terminate()
        mock.wait(timeout=10)
        if redis_server is not None:
            redis_server.stop()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def report(results: dict) -> None:
    d = results["direct"]
    print(
        "\n| configuration | c1 p50 (+added) | c1 p99 (+added) | c10 p50 | c50 p50 / p99 | "
        "rps at c50 | CPU ms/req | stream first byte p50 (+added) | 50 rps steady p99 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():

        def add(k: str, sub: str, name: str = name, r: dict = r) -> str:
            """What this configuration adds to the direct call's number."""
            return "" if name == "direct" else f" (+{r[k][sub] - d[k][sub]:.2f})"

        print(
            f"| {name} | {r['c1']['p50_ms']:.2f}{add('c1', 'p50_ms')} | "
            f"{r['c1']['p99_ms']:.2f}{add('c1', 'p99_ms')} | {r['c10']['p50_ms']:.2f} | "
            f"{r['c50']['p50_ms']:.1f} / {r['c50']['p99_ms']:.1f} | {r['c50']['rps']:.0f} | "
            f"{r['c10']['cpu_ms']:.2f} | {r['stream_c1']['ttfb_p50_ms']:.2f}"
            f"{add('stream_c1', 'ttfb_p50_ms')} | {r['steady_50rps']['p99_ms']:.2f} |"
        )
        errs = {
            k: v
            for k, v in r.items()
            if isinstance(v, dict) and (v.get("errors") or v.get("non_200"))
        }
        if errs:
            print(
                f"|   errors in {name}: "
                + json.dumps({k: (v.get("errors"), v.get("non_200")) for k, v in errs.items()})
                + " |"
            )
    print("\nresident memory of the service's processes at the end of each run (MB):")
    for name, r in results.items():
        if "rss_mb" in r:
            print(f"  {name}: " + ", ".join(f"{k} {v:.0f}" for k, v in r["rss_mb"].items()))


if __name__ == "__main__":
    main()
