"""The questions of concurrent requests embedded in one forward pass.

A forward pass of MiniLM on one short question spends most of its time on matrix products
too thin for the CPU to run well (one row per token, ~17 rows); questions in one pass cost
less each (docs/BENCHMARKS.md, "Embeddings of concurrent requests"). So
the cache asks this wrapper, not the embedder: a pass starts as soon as a question waits,
with every question waiting then (none waits for company: one request at a time costs what
it did); the questions that arrive while a pass runs go together in the next one, up to
`max_batch` a pass.

Written by hand: it is a list and one task. The batchers looked at (PyPI's async-batcher
and batched, Ray Serve's @serve.batch) gather by size or within a wait window (Ray's
default 10 ms): a dependency, for what this needs without the window.

A question embedded in a batch gets the vector it gets alone: the padding is masked out of
the attention and the mean, and on ONNX Runtime the two were equal in every coordinate
(benchmarks/embed_batching.py; the test allows 1e-6). So no cache decision changes; the
cache's evaluation embeds its pairs in batches anyway (embedder.embed).
"""

from __future__ import annotations

import asyncio

import numpy as np

from .embedder import BatchEmbedder


class BatchingEmbedder:
    """`aembed_one` for the cache, over an embedder's `embed(texts)` run off the event loop."""

    def __init__(self, embedder: BatchEmbedder, max_batch: int = 16) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.passes = 0  # forward passes run (the tests and the benchmark read it)
        self._waiting: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def aembed_one(self, text: str) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        batch: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        try:
            while self._waiting:
                batch = [(t, f) for t, f in self._waiting[: self.max_batch] if not f.done()]
                del self._waiting[: self.max_batch]  # a caller gone: its future is cancelled
                if batch:
                    await self._embed(batch)
        finally:
            self._runner = None
            # Only if this task was interrupted (cancelled at shutdown, say): no caller is
            # left waiting forever.
            for _, future in (*batch, *self._waiting):
                if not future.done():
                    future.set_exception(RuntimeError("the embedding pass was interrupted"))
            self._waiting.clear()

    async def _embed(self, batch: list[tuple[str, asyncio.Future[np.ndarray]]]) -> None:
        self.passes += 1
        try:
            vectors = await asyncio.to_thread(self.embedder.embed, [t for t, _ in batch])
            results = list(zip(batch, vectors, strict=True))
        except Exception as exc:  # every question of the pass gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), vector in results:
            if not future.done():
                future.set_result(vector)
