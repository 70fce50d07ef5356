"""Upstream faults at a steady rate under concurrent load, against a real service process.

What must hold: no request outlives its deadline, no 500 from the service, every failure is
a clear status with a JSON error body (or, mid-stream, a final `error` event), the breaker
opens and closes again, and the process's memory and connections stay flat.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import psutil
import pytest

from mock_llm import MockConfig, MockLLMServer, ModelProfile
from tests.support import ServiceProcess, parse_sse

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(1200)]

DEADLINE_S = 2.0
CLEAR_STATUSES = {200, 429, 502, 503, 504}


def fast_mock() -> MockLLMServer:
    """Real timing, but quick: 20 ms to the first token, 400 tokens/s."""
    profile = ModelProfile(ttft_ms=20, tokens_per_s=400, detailed=False)
    return MockLLMServer(MockConfig(models={"gpt-4o-mini": profile, "gpt-4o": profile}))


async def one_request(c: httpx.AsyncClient, i: int) -> dict:
    stream = i % 2 == 0
    body = {"message": f"What is HBM{i % 7}? ({i})", "model": "gpt-4o-mini"}
    t0 = time.monotonic()
    out = {"i": i, "stream": stream}
    if stream:
        async with c.stream("POST", "/chat/stream", json=body) as r:
            out["status"] = r.status_code
            if r.status_code == 200:
                lines = [line async for line in r.aiter_lines()]
                events = parse_sse(lines)
                out["last_event"] = events[-1].event if events else None
                if events and events[-1].event == "error":
                    out["error_type"] = events[-1].json()["type"]
            else:
                out["error_type"] = json.loads(await r.aread())["error"]["type"]
    else:
        r = await c.post("/chat", json=body)
        out["status"] = r.status_code
        if r.status_code != 200:
            out["error_type"] = r.json()["error"]["type"]
    out["seconds"] = time.monotonic() - t0
    return out


async def load(url: str, n: int, concurrency: int) -> list[dict]:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:

        async def bounded(i):
            async with sem:
                return await one_request(c, i)

        return await asyncio.gather(*[bounded(i) for i in range(n)])


def footprint(pid: int) -> tuple[float, int, dict]:
    """(RSS in MiB, open TCP connections, connections by state) of the service process."""
    p = psutil.Process(pid)
    time.sleep(1.0)  # let closes the clients just made reach the server (no CLOSE_WAIT noise)
    conns = p.net_connections(kind="tcp")
    states: dict[str, int] = {}
    for c in conns:
        states[c.status] = states.get(c.status, 0) + 1
    return p.memory_info().rss / 2**20, len(conns), states


def breaker_state(url: str, model: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(f'llm_gateway_breaker_state{{model="{model}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_upstream_faults_under_load(scale):
    n, concurrency = 200 * scale, 20 + 10 * (scale > 1)
    with fast_mock() as mock:
        svc = ServiceProcess(
            {
                "OPENAI_BASE_URL": mock.base_url,
                "OPENAI_API_KEY": "test",
                "LOG_LEVEL": "warning",
                "CACHE_ENABLED": "false",
                "RATE_LIMIT_ENABLED": "false",
                "REQUEST_TIMEOUT_S": str(DEADLINE_S),
                "RETRY_MAX_ATTEMPTS": "3",
                "RETRY_BASE_S": "0.05",
                "BREAKER_FAILURE_THRESHOLD": "8",
                "BREAKER_COOLDOWN_S": "1",
            }
        )
        try:
            asyncio.run(load(svc.url, 40, concurrency))  # warm up: connection pools, caches
            _, conns0, states0 = footprint(svc.proc.pid)

            for kind, rate in (
                ("429", 0.04),
                ("500", 0.04),
                ("hang", 0.02),
                ("drop", 0.04),
                ("malformed", 0.02),
            ):
                mock.state.fail_randomly(
                    rate, kind, seed=hash(kind) % 1000, retry_after=0.2, hang_s=30, after_chunks=3
                )
            # Warm up under the same faults before reading RSS: the first use of every error
            # path (imports, retry machinery) grows it once, by ~38 MiB here (measured: a
            # second and third faulted run then add nothing); RSS is then held flat over the
            # measured run. Connections are counted from the clean warm-up, as before.
            asyncio.run(load(svc.url, max(40, n // 2), concurrency))
            rss0 = footprint(svc.proc.pid)[0]
            results = asyncio.run(load(svc.url, n, concurrency))
            mock.state.clear_faults()

            statuses = {r["status"] for r in results}
            assert statuses <= CLEAR_STATUSES, statuses
            slowest = max(r["seconds"] for r in results)
            # the deadline bounds the wait for an answer (the first token of a stream);
            # a stream then runs at 400 tokens/s, well under a second
            assert slowest < DEADLINE_S + 1.5, slowest
            for r in results:
                if r["status"] != 200:
                    assert r["error_type"] in {
                        "upstream_error",
                        "upstream_timeout",
                        "upstream_unavailable",
                        "circuit_open",
                    }, r
                elif r["stream"]:
                    assert r["last_event"] in ("done", "error"), r
            ok = sum(r["status"] == 200 and r.get("last_event", "done") == "done" for r in results)
            assert ok > 0.8 * n, ok  # retries absorb most faults

            # The breaker: a burst of failures opens it, a clean upstream closes it again.
            mock.state.fail_next(200, "500")
            burst = asyncio.run(load(svc.url, 60, 10))
            assert any(r.get("error_type") == "circuit_open" for r in burst)
            assert breaker_state(svc.url, "gpt-4o-mini") == 2
            mock.state.clear_faults()
            time.sleep(1.2)  # the cooldown; then one at a time: the first is the probe
            after = asyncio.run(load(svc.url, 20, 1))
            assert all(r["status"] == 200 for r in after), after
            assert breaker_state(svc.url, "gpt-4o-mini") == 0

            asyncio.run(load(svc.url, 40, concurrency))
            rss1, conns1, states1 = footprint(svc.proc.pid)
            assert rss1 - rss0 < 40 * scale**0.5, (rss0, rss1)  # MiB
            assert conns1 <= conns0 + 5, (states0, states1)
        finally:
            out = svc.terminate()
    assert "Traceback" not in out, out[-3000:]
