"""CPU per relayed chunk in the gateway's process, reading the upstream's stream: the SDK's
`AsyncStream[object]` (the service before this change: the SDK's SSE decoder and a pydantic
TypeAdapter per chunk) against the SDK's raw response read by `_stream_chunks` (the service
now), on the fake LLM in another process, pinned apart.

    .venv/bin/python benchmarks/stream_client.py [--streams 400] [--rounds 5]

Each stream is one answer of the fake LLM (45 content chunks, a finish chunk and a usage
chunk); the CPU per stream is divided by its chunks. Rounds alternate the two ways; the
median of the rounds is reported (docs/BENCHMARKS.md, "Relayed chunks").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import httpx2
from openai import AsyncStream

from benchmarks.client_rounds import alternating_rounds, fake_llm
from reference_service.llm.client import UpstreamClient, _stream_chunks, build_openai_client

BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "What is the bandwidth of PCIe 5.0 x16?"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def sdk_stream(client: UpstreamClient) -> int:
    """What UpstreamClient.stream read before: the SDK's AsyncStream of plain objects."""
    stream = await client._client.post(
        "/chat/completions", body=BODY, cast_to=object, stream=True, stream_cls=AsyncStream[object]
    )
    n = 0
    async with stream:
        async for _ in stream:
            n += 1
    return n


async def raw_stream(client: UpstreamClient) -> int:
    response = await client._client.post(
        "/chat/completions", body=BODY, cast_to=httpx2.Response, stream=True
    )
    n = 0
    try:
        async for _ in _stream_chunks(response):
            n += 1
    finally:
        await response.aclose()
    return n


async def cpu_per_chunk(way, base_url: str, streams: int) -> float:
    client = UpstreamClient(build_openai_client(base_url, "x", 10.0, 2.0))
    for _ in range(20):  # warm
        chunks = await way(client)
    cpu0 = time.process_time()
    for _ in range(streams):
        await way(client)
    per_chunk = (time.process_time() - cpu0) / streams / chunks
    await client._client.close()
    return per_chunk * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with fake_llm() as (_, base_url):
        ways = {"AsyncStream[object]": sdk_stream, "raw + _stream_chunks": raw_stream}

        def measure(way) -> float:
            return asyncio.run(cpu_per_chunk(way, base_url, args.streams))

        alternating_rounds(ways, measure, args.rounds, "chunk")


if __name__ == "__main__":
    main()
