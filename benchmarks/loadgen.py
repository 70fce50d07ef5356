"""A small closed/open-loop HTTP/1.1 load generator on raw asyncio streams.

Written by hand because the measurement must cost the client as little as possible: httpx
spends ~0.5-1 ms of CPU per request, which on a 2-core machine would be charged to the
service under test. This client keeps connections alive, sends a fixed request, reads the
status line, headers and the body (Content-Length or chunked), and records the time to the
first body byte (for SSE: the first event) and to the end. Loopback only; bounded by a
request count and a time limit.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from benchmarks.stats import percentile


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, to the last byte
    first_bytes: list[float] = field(default_factory=list)  # seconds, to the first body byte
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    wall_s: float = 0.0

    def pct(self, p: float, values: list[float] | None = None) -> float:
        """The p-th percentile of the latencies (or of `values`)."""
        return percentile(self.latencies if values is None else values, p)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0


def build_request(
    host: str, port: int, path: str, body: dict, headers: dict[str, str] | None = None
) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: keep-alive",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, float | None, bool]:
    """Read one response; (status, time of the first body byte, keep-alive)."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length, chunked, keep = None, False, True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep = False
    first = None
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            await reader.readexactly(size)
            if first is None:
                first = time.perf_counter()
            await reader.readline()
    elif length:
        await reader.readexactly(1)
        first = time.perf_counter()
        await reader.readexactly(length - 1)
    return status, first, keep


async def run(
    host: str,
    port: int,
    request,
    *,
    concurrency: int,
    requests: int,
    time_limit_s: float = 60.0,
    rate: float | None = None,
    warmup: int = 0,
) -> Result:
    """Closed loop (`concurrency` connections back to back) or, with `rate`, open loop:
    requests start at a steady `rate` per second (on up to `concurrency` connections) and
    latency counts from the scheduled start, so a stall shows up as queueing. `request` is
    the request's bytes, or a function of the request number that makes them."""
    result = Result()
    counter = {"sent": 0}
    start = time.perf_counter()
    stop_at = start + time_limit_s

    async def worker() -> None:
        reader = writer = None
        while True:
            i = counter["sent"]
            if i >= requests + warmup or time.perf_counter() > stop_at:
                break
            counter["sent"] += 1
            scheduled = start + (i / rate) if rate else None
            if scheduled is not None:
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                t0 = scheduled if scheduled is not None else time.perf_counter()
                writer.write(request(i) if callable(request) else request)
                status, first, keep = await _read_response(reader)
                t1 = time.perf_counter()
            except (ConnectionError, asyncio.IncompleteReadError, OSError, ValueError):
                result.errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if i >= warmup:
                result.latencies.append(t1 - t0)
                result.first_bytes.append((first or t1) - t0)
                result.statuses[status] = result.statuses.get(status, 0) + 1
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    result.wall_s = time.perf_counter() - start
    return result
