"""CPU per relayed chunk through the whole gateway: the slope of the service's CPU per
stream between a short and a long answer, the rest of the request's cost cancelled out.

    .venv/bin/python benchmarks/stream_chunks.py [--streams 300] [--rounds 5] [--tps 2000]

Dividing one stream's CPU by its chunks (as a 20-chunk stream's CPU does in the side-by-side
run) charges the request's own cost (its parsing, the pipeline, the upstream call) to the
chunks. Here the same question is streamed with `max_tokens` SHORT and LONG: the upstream
(the fake LLM, one scripted answer longer than LONG tokens, a token per chunk) sends SHORT or
LONG content chunks, each relayed by the service as one SSE event, and everything else is
the same. (CPU per LONG stream - CPU per SHORT stream) / (LONG - SHORT) is what one more
chunk costs: read off the upstream's body, through the pipeline, written out as an event.

The service runs "bare" (as the side-by-side harness runs it: cache, guards, rate limits and
routing off; the request log on; its breaker on a real Redis 8), one worker on CPU 0; the
fake LLM, Redis and this client on CPU 1. Rounds alternate the two lengths (which one goes
first alternates too); the median of the rounds' slopes is reported.

By default the fake LLM sends its chunks as fast as it can, as the side-by-side harness's
fake does, so several often arrive in one read. `--tps N` spaces them (N tokens a second,
no wait for the first), as a real model's decoding does: then each chunk is a read of its
own, the case a deployment relays.

`--gateway` measures, the same way, something else in the service's place:
`floor-bytes|floor-json`, a raw ASGI relay on the service's own server stack
(benchmarks/relay_floor.py): what any relay built on uvicorn, uvloop and aiohttp pays per
chunk, relaying the chunks as bytes or decoded and encoded; `litellm`, LiteLLM proxy on its
minimum path as ../shared/perf/side_by_side.sh runs it, with that script's own
litellm_config.yaml (installed per ../shared/perf/README.md; `--litellm-venv`, default
/tmp/llvenv).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.loadgen import build_request, run
from benchmarks.overhead import BARE, BODY, HOST, cpu_seconds, start, stopped
from mock_llm import free_port
from reference_service.tokens import split_tokens

SHORT, LONG = 20, 220
# A plain English answer, one token a chunk; longer than LONG so max_tokens always cuts it.
ANSWER = " ".join(
    ["PCIe 5.0 x16 carries about 64 GB/s in each direction, twice what 4.0 carries."] * 30
)


def stream_body(max_tokens: int) -> dict:
    return dict(BODY, stream=True, max_tokens=max_tokens)


def content_events(port: int, max_tokens: int, headers: dict[str, str]) -> int:
    """How many content events one stream of this length carries (checked, not assumed)."""
    n = 0
    with httpx.stream(
        "POST",
        f"http://{HOST}:{port}/v1/chat/completions",
        json=stream_body(max_tokens),
        headers=headers,
        timeout=30,
    ) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:]).get("choices") or [{}]
                # not the opening role event, not the last (nor a usage chunk)
                n += bool(choices[0].get("delta", {}).get("content"))
    return n


def cpu_per_stream(
    port: int, proc, max_tokens: int, streams: int, headers: dict[str, str]
) -> float:
    """ms of the gateway's CPU per stream, over `streams` streams at one client."""
    path = "/v1/chat/completions"
    request = build_request(HOST, port, path, stream_body(max_tokens), headers)
    before = cpu_seconds(proc)
    r = asyncio.run(run(HOST, port, request, concurrency=1, requests=streams))
    if r.errors or set(r.statuses) != {200}:
        raise RuntimeError(f"failed streams: {r.statuses}, {r.errors} errors")
    return (cpu_seconds(proc) - before) / len(r.latencies) * 1000


LITELLM_KEY = "sk-stream-chunks"
SHARED_CONFIG = Path(__file__).parents[2] / "shared/perf/litellm_config.yaml"


def litellm_config(upstream: str) -> dict:
    """side_by_side's own LiteLLM config (../shared/perf), its model pointed at `upstream`."""
    if not SHARED_CONFIG.exists():
        raise SystemExit(f"--gateway litellm uses {SHARED_CONFIG}; it is not there")
    config = yaml.safe_load(SHARED_CONFIG.read_text())
    names = [m["model_name"] for m in config["model_list"]]
    if BODY["model"] not in names:
        raise SystemExit(f"{SHARED_CONFIG} serves {names}, not {BODY['model']}")
    for m in config["model_list"]:
        m["litellm_params"]["api_base"] = upstream
    return config


def _gateway(name: str, port: int, redis_url: str, mock_port: int, venv: Path) -> tuple:
    """What relays, as start()'s arguments and the headers its requests carry: the service
    bare; the floor's relay app on the same server stack; or LiteLLM proxy on its minimum
    path, as ../shared/perf/side_by_side.sh runs it (one worker, a master key, no cache, no
    callbacks). Each on CPU 0."""
    upstream = f"http://{HOST}:{mock_port}/v1"
    ready, headers = f"http://{HOST}:{port}/readyz", {}
    if name.startswith("floor-"):
        cmd = [sys.executable, "-m", "uvicorn", "benchmarks.relay_floor:app", "--port", str(port)]
        cmd += ["--http", "httptools", "--no-access-log", "--log-level", "warning"]
        env = {"RELAY_UPSTREAM": upstream, "RELAY_PARSE": str(int(name == "floor-json"))}
    elif name == "litellm":
        config = Path(tempfile.mkdtemp(prefix="stream-chunks-")) / "litellm.yaml"
        atexit.register(shutil.rmtree, config.parent, True)
        config.write_text(json.dumps(litellm_config(upstream)))  # JSON is YAML
        cmd = [str(venv / "bin/litellm"), "--config", str(config), "--host", HOST]
        cmd += ["--port", str(port), "--num_workers", "1"]
        env = {
            "LITELLM_MASTER_KEY": LITELLM_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "HF_HUB_OFFLINE": "1",
        }
        ready, headers = (
            f"http://{HOST}:{port}/health/liveliness",
            {"Authorization": f"Bearer {LITELLM_KEY}"},
        )
    else:
        cmd = [sys.executable, "-m", "reference_service", "--port", str(port), "--workers", "1"]
        env = {**BARE, "REDIS_URL": redis_url, "OPENAI_BASE_URL": upstream, "OPENAI_API_KEY": "x"}
    return (cmd, env, {0}, ready), headers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=300, help="streams per round and length")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--tps", type=float, help="the fake LLM's tokens a second (default: no wait)"
    )
    parser.add_argument(
        "--gateway",
        choices=["service", "floor-bytes", "floor-json", "litellm"],
        default="service",
        help="what relays: the service; benchmarks/relay_floor.py relaying bytes as they "
        "came or each chunk decoded and encoded again (the stack's floor); LiteLLM proxy",
    )
    parser.add_argument("--litellm-venv", type=Path, default=Path("/tmp/llvenv"))
    args = parser.parse_args()
    assert len(split_tokens(ANSWER)) > LONG
    os.sched_setaffinity(0, {1})
    from tests.redis_server import RedisServer

    with ExitStack() as cleanup:  # whatever started is stopped, even if a later step fails
        redis_server = RedisServer().start()
        cleanup.callback(redis_server.stop)
        psutil.Process(redis_server.proc.pid).cpu_affinity([1])
        mock_port = free_port()
        latency = "zero" if args.tps is None else "realistic"
        mock = start(
            [sys.executable, "-m", "mock_llm", "--port", str(mock_port), "--latency", latency],
            {} if args.tps is None else {"MOCK_TTFT_MS": "0", "MOCK_TPS": str(args.tps)},
            {1},
            f"http://{HOST}:{mock_port}/v1/models",
        )
        cleanup.callback(stopped, mock, 10)
        scripted = (args.rounds * 2 + 1) * (args.streams + 1) + 100
        httpx.post(
            f"http://{HOST}:{mock_port}/_mock/answers", json={"text": ANSWER, "count": scripted}
        ).raise_for_status()
        port = free_port()
        start_args, headers = _gateway(
            args.gateway, port, redis_server.url, mock_port, args.litellm_venv
        )
        svc = start(*start_args)
        cleanup.callback(stopped, svc)
        events = {n: content_events(port, n, headers) for n in (SHORT, LONG)}
        assert events == {SHORT: SHORT, LONG: LONG}, events
        cpu_per_stream(port, svc, LONG, 50, headers)  # warm-up
        # The slope also takes in what the service spends idle (timers, the breaker) over
        # the longer stream's extra time: shown here, to be weighed against it.
        before = cpu_seconds(svc)
        time.sleep(5)
        print(
            f"the {args.gateway} idle: {(cpu_seconds(svc) - before) / 5 * 1000:.2f} ms of CPU a second"
        )
        rounds = []
        for i in range(args.rounds):
            order = (SHORT, LONG) if i % 2 == 0 else (LONG, SHORT)
            ms = {n: cpu_per_stream(port, svc, n, args.streams, headers) for n in order}
            slope = (ms[LONG] - ms[SHORT]) / (LONG - SHORT)
            rounds.append((ms[SHORT], ms[LONG], slope))
            print(
                f"round {i + 1}: {SHORT} chunks {ms[SHORT]:.2f} ms, {LONG} chunks "
                f"{ms[LONG]:.2f} ms of CPU per stream: {slope:.4f} ms per chunk",
                flush=True,
            )
    short, long_, slope = (statistics.median(r[k] for r in rounds) for k in range(3))
    print(
        f"median of {args.rounds} rounds: {SHORT} chunks {short:.2f} ms, {LONG} chunks "
        f"{long_:.2f} ms of CPU per stream; {slope:.4f} ms of CPU per relayed chunk"
    )


if __name__ == "__main__":
    main()
