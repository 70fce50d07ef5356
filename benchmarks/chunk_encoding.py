"""CPU to encode one relayed token as an OpenAI `chat.completion.chunk` SSE event: the whole
chunk object through json.dumps and sse-starlette's ServerSentEvent (the service before), and
streaming.openai_events now (a per-stream template with the token's JSON string in its slot).

    .venv/bin/python benchmarks/chunk_encoding.py [--tokens 50000] [--rounds 5]

Batches of one TokenEvent each: "now" goes through `openai_events` itself; "before" is a
plain loop over the same batches encoding each token as the whole object
(`_Chunks.chunk`), as `openai_events` did (the bytes are the same:
tests/service/test_openai_events.py). Only "now" pays for `openai_events`' own generator and
type checks, so the saving shown is if anything understated. Encoding only: no network, no
pipeline. Rounds alternate the two ways (client_rounds.alternating_rounds); the median of
the rounds is reported (docs/BENCHMARKS.md, "Relayed chunks").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.client_rounds import alternating_rounds
from reference_service.call import ChatCall, TokenEvent
from reference_service.clients import Client, Limits
from reference_service.streaming import _Chunks, openai_events

WORDS = [" the", " bandwidth", " of", " PCIe", " 5.0", " x16", " is", " about", " 64", " GB/s"]


async def one_way(tokens: int, before: bool) -> float:
    """ms of CPU per token, through openai_events (now) or the same loop encoding whole
    objects (before)."""
    events = [[TokenEvent(WORDS[i % len(WORDS)])] for i in range(tokens)]

    async def batches() -> AsyncIterator[list]:
        for batch in events:
            yield batch

    call = ChatCall(messages=[], model="gpt-4o-mini", client=Client("c", "t", Limits(1, 1)))
    cpu = time.process_time()
    if before:
        whole = _Chunks("chatcmpl-bench", 1700000000, "gpt-4o-mini", include_usage=False)
        async for batch in batches():
            b"".join(whole.chunk({"content": e.text}) for e in batch)
    else:
        stream = openai_events(
            batches(),
            call,
            completion_id="chatcmpl-bench",
            created=1700000000,
            model="gpt-4o-mini",
            include_usage=False,
        )
        async for _ in stream:
            pass
    return (time.process_time() - cpu) / tokens * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ways = {"the whole chunk object (before)": True, "the template (now)": False}
    alternating_rounds(
        ways, lambda before: asyncio.run(one_way(args.tokens, before)), args.rounds, "token"
    )


if __name__ == "__main__":
    main()
