"""What asking the circuit breaker costs an upstream call: Redis asked on every call
(BREAKER_SYNC_S=0, the service before the change) or a closed, clean view trusted for
0.25 s (the default).

    .venv/bin/python benchmarks/breaker_ask.py [--rounds 5] [--calls 5000]

This process on CPU 0, a real Redis 8 on CPU 1. Each call is what ResilientUpstream does
around a successful upstream call: `allow()`, then `record_success()` with the ticket. The
clock is the real one, so the 0.25 s view runs out and is read again as it would in the
service. Printed: ms of CPU per call, the two ways in alternating rounds, and their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.client_rounds import alternating_rounds


def cpu_per_call(url: str, sync_s: float, calls: int) -> float:
    import redis.asyncio as aredis

    from reference_service.clock import SystemClock
    from reference_service.llm.breaker import BreakerConfig, BreakerRegistry

    async def go() -> float:
        redis = aredis.from_url(url)
        breaker = BreakerRegistry(redis, SystemClock(), BreakerConfig(sync_s=sync_s)).for_model(
            "gpt-4o-mini"
        )

        async def call(n: int) -> None:
            for _ in range(n):
                ticket = await breaker.allow()
                await breaker.record_success(ticket.probe, clean=ticket.clean)

        await call(200)  # warm: the script loaded, the connection open
        cpu0 = time.process_time()
        await call(calls)
        cpu = time.process_time() - cpu0
        await redis.aclose()
        return cpu / calls * 1000

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    from tests.redis_server import RedisServer

    os.sched_setaffinity(0, {0})
    redis_server = RedisServer().start()
    os.sched_setaffinity(redis_server.proc.pid, {1})
    try:
        ways = {"asked every call (sync 0)": 0.0, "trusted 0.25 s (default)": 0.25}
        alternating_rounds(
            ways,
            lambda sync_s: cpu_per_call(redis_server.url, sync_s, args.calls),
            args.rounds,
            "call",
        )
    finally:
        redis_server.stop()


if __name__ == "__main__":
    main()
