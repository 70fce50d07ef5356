"""CPU per moderation call in the gateway's process: the SDK's typed
`moderations.create` (the service before this change) against its low-level `post` with
`cast_to=object` (the service now), on the fake LLM in another process, pinned apart. A
third way, plain aiohttp with the same body (not something the service may do: its LLM
calls go through the SDK), measures what the SDK's own request building costs on top.

    .venv/bin/python benchmarks/moderation_client.py [--calls 2000] [--rounds 3]

Rounds alternate the two ways; the median of the rounds is reported (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.client_rounds import alternating_rounds, fake_llm
from reference_service.llm.client import UpstreamClient, _flagged_categories, build_openai_client

TEXTS = ["What is the bandwidth of PCIe 5.0 x16 in lab 7?"]


async def typed(client: UpstreamClient) -> list[list[str]]:
    """What UpstreamClient.moderate did before: the typed call, a pydantic object back."""
    resp = await client._client.moderations.create(model="omni-moderation-latest", input=TEXTS)
    out = []
    for r in resp.results:
        cats = r.categories.model_dump(by_alias=True) if r.flagged else {}
        out.append(
            sorted(k for k, v in cats.items() if v) or (["unspecified"] if r.flagged else [])
        )
    return out


async def raw(client: UpstreamClient) -> list[list[str]]:
    return await client.moderate(TEXTS, "omni-moderation-latest")


class Plain:
    """The same POST on aiohttp alone (the floor under the SDK's transport)."""

    def __init__(self, base_url: str) -> None:
        import aiohttp

        self.url = base_url + "/moderations"
        self.session = aiohttp.ClientSession(headers={"Authorization": "Bearer x"})

    async def moderate(self) -> list[list[str]]:
        body = {"model": "omni-moderation-latest", "input": TEXTS}
        async with self.session.post(self.url, json=body) as r:
            reply = await r.json()
        return [_flagged_categories(x) for x in reply["results"]]


async def plain(client: Plain) -> list[list[str]]:
    return await client.moderate()


async def cpu_per_call(way, base_url: str, calls: int) -> float:
    if way is plain:
        client: UpstreamClient | Plain = Plain(base_url)
    else:
        client = UpstreamClient(build_openai_client(base_url, "x", 10.0, 2.0))
    for _ in range(50):  # warm: connection, first-call imports
        assert await way(client) == [[]]
    cpu0 = time.process_time()
    for _ in range(calls):
        await way(client)
    per_call = (time.process_time() - cpu0) / calls
    await (client.session.close() if isinstance(client, Plain) else client._client.close())
    return per_call * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with fake_llm() as (_, base_url):
        ways = {"typed": typed, "post": raw, "aiohttp": plain}

        def measure(way) -> float:
            return asyncio.run(cpu_per_call(way, base_url, args.calls))

        alternating_rounds(ways, measure, args.rounds, "call")


if __name__ == "__main__":
    main()
