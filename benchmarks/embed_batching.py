"""What embedding the questions of concurrent requests together saves: CPU per question
when N requests embed at once, each on its own (`asyncio.to_thread(embed_one)`, the
service before) or through `BatchingEmbedder` (the service now), and how far a batched
vector is from the one computed alone.

    .venv/bin/python benchmarks/embed_batching.py [--rounds 3] [--questions 256]

One process pinned to CPU 0 (as a worker is), the ONNX fp32 embedder, the overhead
benchmark's semantic-hit wordings (distinct questions). For each N in 1, 4, 8, 16: N
callers at once, each embedding its share of the questions in turn; the two ways
alternate, median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.overhead import paraphrase
from reference_service.cache.batching import BatchingEmbedder
from reference_service.cache.embedder import load_embedder


class OneByOne:
    """The service before: each question in its own thread call, one forward pass each."""

    def __init__(self, embedder) -> None:
        self.embedder, self.passes = embedder, 0

    async def aembed_one(self, text: str) -> np.ndarray:
        self.passes += 1
        vector: np.ndarray = await asyncio.to_thread(self.embedder.embed_one, text)
        return vector


def cpu_per_question(way, texts: list[str], callers: int) -> tuple[float, float]:
    """(ms of CPU per question, questions per forward pass)."""

    async def caller(share: list[str]) -> None:
        for text in share:
            await way.aembed_one(text)

    async def go() -> None:
        await asyncio.gather(*(caller(texts[i::callers]) for i in range(callers)))

    way.passes = 0
    cpu0 = time.process_time()
    asyncio.run(go())
    return (time.process_time() - cpu0) / len(texts) * 1000, len(texts) / way.passes


def largest_difference(embedder, texts: list[str]) -> float:
    """Largest difference, over every coordinate, between a question embedded alone and in a
    batch of 16 (embedder.embed)."""
    alone = np.stack([embedder.embed_one(t) for t in texts])
    together = np.concatenate([embedder.embed(texts[i : i + 16]) for i in range(0, len(texts), 16)])
    return float(np.abs(alone - together).max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--questions", type=int, default=256)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    embedder = load_embedder("onnx")
    texts = [paraphrase(100 + i) for i in range(args.questions)]
    print(f"largest difference, alone vs in a batch: {largest_difference(embedder, texts):.2e}")
    for callers in (1, 4, 8, 16):
        ways = {"one by one": OneByOne(embedder), "batched": BatchingEmbedder(embedder)}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                results[name].append(cpu_per_question(way, texts, callers))
        line = ", ".join(
            f"{name} {statistics.median(r[0] for r in runs):.2f} ms "
            f"({statistics.median(r[1] for r in runs):.1f} a pass)"
            for name, runs in results.items()
        )
        print(f"{callers:2d} at once, ms of CPU per question: {line}", flush=True)


if __name__ == "__main__":
    main()
