"""Redis killed and restarted under load: the service keeps answering (cache bypassed,
limiter fail-open), says it is degraded, and recovers by itself when Redis returns."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import pytest

from mock_llm import MockConfig, MockLLMServer
from tests.redis_server import RedisServer
from tests.support import ServiceProcess

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(1200)]


class Load(threading.Thread):
    """Steady requests at a few concurrent clients until stopped; records every status."""

    def __init__(self, url: str, concurrency: int) -> None:
        super().__init__(daemon=True)
        self.url, self.concurrency = url, concurrency
        self.results: list[tuple[float, int, str]] = []  # (time, status, x-cache)
        self.stop = threading.Event()

    def run(self) -> None:
        async def client(k: int):
            async with httpx.AsyncClient(base_url=self.url, timeout=30) as c:
                i = 0
                while not self.stop.is_set():
                    i += 1
                    r = await c.post(
                        "/chat",
                        json={"message": f"What is DDR{i % 5}?"},
                        headers={"X-Client-ID": f"student-{k}"},
                    )
                    self.results.append(
                        (time.monotonic(), r.status_code, r.headers.get("x-cache", ""))
                    )

        async def main():
            await asyncio.gather(*[client(k) for k in range(self.concurrency)])

        asyncio.run(main())


def test_redis_killed_and_restarted_during_load(scale):
    outage_s = 2.0 * scale
    with MockLLMServer(MockConfig(latency="zero")) as mock:
        redis = RedisServer().start()
        svc = ServiceProcess(
            {
                "OPENAI_BASE_URL": mock.base_url,
                "OPENAI_API_KEY": "test",
                "REDIS_URL": redis.url,
                "LOG_LEVEL": "warning",  # (a full
                # stdout pipe that nobody reads would block the service)
                "RATE_LIMIT_RPM": "100000",
            }
        )
        load = Load(svc.url, concurrency=4)
        revived = None
        try:
            load.start()
            time.sleep(1.0)
            assert httpx.get(svc.url + "/health/detailed").status_code == 200
            killed = time.monotonic()
            redis.stop()
            time.sleep(0.5)
            degraded = httpx.get(svc.url + "/health/detailed")
            assert degraded.status_code == 503 and degraded.json()["status"] == "degraded"
            time.sleep(outage_s)
            revived = RedisServer()
            revived.port, revived.url = redis.port, redis.url  # same address
            revived.start()
            restarted = time.monotonic()
            deadline = time.monotonic() + 10
            while httpx.get(svc.url + "/health/detailed").status_code != 200:
                assert time.monotonic() < deadline, "did not recover"
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            load.stop.set()
            load.join(30)
            out = svc.terminate()
            if revived is not None:  # never leave a redis-server behind, pass or fail
                revived.stop()
        during = [s for t, s, _ in load.results if killed < t < restarted]
        after = [(s, x) for t, s, x in load.results if t > restarted + 0.5]
        assert during and set(during) == {200}, set(during)  # kept answering
        assert all(s == 200 for s, _ in after) and any(x == "HIT" for _, x in after)
        # Once per outage and part (cache, limiter, breaker), not per request: a restart may
        # show as a second short outage (a command on a half-open connection), hence 2 x 3.
        warnings = re.findall(r'"msg": "([a-z ]+): Redis unreachable', out)
        assert len(during) > 50 and len(warnings) <= 6, warnings
        assert set(warnings) <= {"cache", "rate limiter", "circuit breaker"}, warnings
        assert "reachable again" in out
        assert "Traceback" not in out, out[-3000:]
