"""What a cache miss and a semantic hit cannot cost less than, with everything on, under the
project's rules (LLM calls through the official SDK; every PII and cache evaluation result
kept, so the same spaCy pipeline and the same fp32 embedder): each part measured alone.

    .venv/bin/python benchmarks/request_floors.py [--n 300]

In this process, pinned to CPU 0 (Redis 8 and the fake LLM on CPU 1), CPU per unit of:
Presidio's pass on a text it has not seen (the overhead benchmark's miss and semantic-hit
wordings), spaCy's pipeline alone and without its ner; one question through the ONNX
embedder; one upstream call through the SDK (a moderation call, as the service makes it);
one Redis command. Then the service itself (one worker, everything on, real Redis): how
many Redis commands a miss and a semantic hit send (MONITOR, a Lua script's own commands
left out). The floor printed is what the rules leave no way around: Presidio's pass, the
embedding and the upstream calls (a miss: the question's moderation, the chat, the answer's
moderation; a semantic hit: the question's moderation). Redis is reported beside it: its
round trips could be merged, so they are not a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.client_rounds import fake_llm
from benchmarks.loadgen import build_request, run
from benchmarks.moderation_client import cpu_per_call, raw
from benchmarks.overhead import (
    BODY,
    HOST,
    paraphrase,
    service_env,
    start,
    store_semantic_bases,
)
from mock_llm import free_port


def per_text(fn, texts: list[str]) -> float:
    """Median over 3 passes of CPU ms per text."""
    runs = []
    for _ in range(3):
        cpu0 = time.process_time()
        for t in texts:
            fn(t)
        runs.append((time.process_time() - cpu0) / len(texts) * 1000)
    return statistics.median(runs)


def texts(n: int) -> list[str]:
    miss = [f"What is the bandwidth of PCIe {i}.0 x16 in lab f{i}?" for i in range(n // 2)]
    return miss + [paraphrase(100 + i) for i in range(n - n // 2)]


def model_parts(n: int) -> dict[str, float]:
    from reference_service.cache.embedder import load_embedder
    from reference_service.safety.recognizers import ENTITIES, shared_analyzer

    analyzer = shared_analyzer()
    nlp = analyzer.nlp_engine.nlp["en"]  # type: ignore[attr-defined]
    embedder = load_embedder("onnx")
    ts = texts(n)
    for t in ts[:20]:  # warm
        embedder.embed_one(t)
    entities = list(ENTITIES)
    return {
        "presidio pass": per_text(
            lambda t: analyzer.analyze(t, language="en", entities=entities, score_threshold=0.4),
            ts,
        ),
        "  spaCy pipeline": per_text(nlp, ts),
        "  spaCy pipeline without ner": per_text(lambda t: nlp(t, disable=["ner"]), ts),
        "embedding (onnx fp32)": per_text(embedder.embed_one, ts),
    }


def redis_command(url: str, n: int = 5000) -> float:
    import redis.asyncio as aredis

    async def go() -> float:
        r = aredis.from_url(url)
        await r.set("k", "v")
        for _ in range(200):
            await r.get("k")
        cpu0 = time.process_time()
        for _ in range(n):
            await r.get("k")
        await r.aclose()
        return (time.process_time() - cpu0) / n * 1000

    return asyncio.run(go())


class CommandCount:
    """Commands the service sends Redis, read off MONITOR (a Lua script's own commands are
    not the client's: left out)."""

    def __init__(self, url: str) -> None:
        import threading

        import redis

        self.sent = 0
        self.names: Counter[str] = Counter()  # what was sent, by command
        self._stop = threading.Event()
        self._conn = redis.Redis.from_url(url)
        self._thread = threading.Thread(target=self._listen, args=(url,), daemon=True)
        self._thread.start()
        time.sleep(0.3)  # MONITOR is on before the first request

    def _listen(self, url: str) -> None:
        import redis

        with redis.Redis.from_url(url).monitor() as m:
            for cmd in m.listen():
                if "COUNT-STOP" in cmd["command"]:
                    return
                if cmd.get("client_type") != "lua":
                    self.sent += 1
                    self.names[cmd["command"].split(" ", 1)[0].upper()] += 1

    def stop(self) -> int:
        self._conn.get("COUNT-STOP")
        self._thread.join(10)
        return self.sent


def commands_per_request(redis_url: str, mock_port: int, n: int = 50) -> dict[str, float]:
    """Redis commands the service sends per miss and per semantic hit (everything on)."""
    port = free_port()
    env = service_env("everything on (defaults)", mock_port, {"REDIS_URL": redis_url})
    cmd = [sys.executable, "-m", "reference_service", "--port", str(port)]
    svc = start(cmd, env, {0}, f"http://{HOST}:{port}/readyz")
    out = {}
    try:

        def ask(q: str):
            body = dict(BODY, model="auto", messages=[{"role": "user", "content": q}])
            return lambda i: build_request(HOST, port, "/v1/chat/completions", body)

        store_semantic_bases(port, "auto")  # for the semantic hits
        kinds = {
            "miss": lambda i: f"What is the bandwidth of PCIe {i}.0 x16 in rack r{i}?",
            "semantic hit": lambda i: paraphrase(200 + i),
        }
        for kind, question in kinds.items():
            count = CommandCount(redis_url)
            for i in range(n):
                r = asyncio.run(run(HOST, port, ask(question(i)), concurrency=1, requests=1))
                assert r.statuses == {200: 1}, r.statuses
            out[kind] = count.stop() / n
            by_name = ", ".join(f"{c} {k / n:.1f}" for c, k in count.names.most_common())
            print(f"Redis commands per {kind}: {by_name}", flush=True)
    finally:
        svc.terminate()
        svc.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="texts per model measurement")
    args = parser.parse_args()
    from tests.redis_server import RedisServer

    redis_server = RedisServer().start()
    os.sched_setaffinity(redis_server.proc.pid, {1})
    try:
        with fake_llm() as (mock_port, base_url):
            parts = model_parts(args.n)
            parts["upstream call through the SDK"] = asyncio.run(cpu_per_call(raw, base_url, 2000))
            parts["Redis command (redis-py)"] = redis_command(redis_server.url)
            commands = commands_per_request(redis_server.url, mock_port)
    finally:
        redis_server.stop()
    for name, ms in parts.items():
        print(f"{name:40s} {ms:6.2f} ms of CPU")
    for kind, calls in (("miss", 3), ("semantic hit", 1)):
        floor = (
            parts["presidio pass"]
            + parts["embedding (onnx fp32)"]
            + calls * parts["upstream call through the SDK"]
        )
        redis_ms = commands[kind] * parts["Redis command (redis-py)"]
        print(
            f"{kind}: floor (Presidio + embedding + {calls} upstream call(s)) {floor:.1f} ms "
            f"of CPU; Redis today: {commands[kind]:.1f} commands sent, at most "
            f"{redis_ms:.1f} ms (some are pipelined)"
        )


if __name__ == "__main__":
    main()
