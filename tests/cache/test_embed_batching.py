"""The questions of concurrent requests embedded together (cache/batching.py)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from reference_service.cache.batching import BatchingEmbedder


class Recording:
    """An embedder whose vector of a text is [len(text)]; it records each pass's size, and
    holds its first pass until released, so that callers queue up behind it."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.passes: list[int] = []
        self.started, self.release = threading.Event(), threading.Event()
        self.fail_on = fail_on

    def embed(self, texts: list[str]) -> np.ndarray:
        self.passes.append(len(texts))
        if len(self.passes) == 1:
            self.started.set()
            self.release.wait(10)
        if self.fail_on in texts:
            raise RuntimeError("the model failed")
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)


async def queue_behind_first(embedder: Recording, batcher: BatchingEmbedder, texts: list[str]):
    """The first text starts a pass; the rest arrive while it runs."""
    first = asyncio.create_task(batcher.aembed_one(texts[0]))
    await asyncio.to_thread(embedder.started.wait, 10)
    rest = [asyncio.create_task(batcher.aembed_one(t)) for t in texts[1:]]
    await asyncio.sleep(0)  # the rest are waiting now
    return first, rest


async def test_a_question_alone_is_embedded_at_once_alone():
    embedder = Recording()
    embedder.release.set()
    batcher = BatchingEmbedder(embedder)
    task = asyncio.create_task(batcher.aembed_one("abc"))
    for _ in range(3):  # the caller, then the pass's task: no wait window between them
        await asyncio.sleep(0)
    assert batcher.passes == 1
    assert (await task).tolist() == [3.0] and embedder.passes == [1]


async def test_questions_arriving_during_a_pass_go_together_in_the_next():
    embedder = Recording()
    batcher = BatchingEmbedder(embedder, max_batch=8)
    texts = ["x" * n for n in range(1, 21)]
    first, rest = await queue_behind_first(embedder, batcher, texts)
    embedder.release.set()
    vectors = await asyncio.gather(first, *rest)
    assert [v.tolist() for v in vectors] == [[float(len(t))] for t in texts]  # each its own
    assert embedder.passes == [1, 8, 8, 3]  # at most max_batch a pass
    assert batcher.passes == 4


async def test_a_failed_pass_fails_its_questions_only():
    embedder = Recording(fail_on="bad")
    batcher = BatchingEmbedder(embedder)
    first, rest = await queue_behind_first(embedder, batcher, ["a", "bad", "cc"])
    embedder.release.set()
    assert (await first).tolist() == [1.0]
    for task in rest:  # "bad" and "cc" shared the failed pass
        with pytest.raises(RuntimeError, match="the model failed"):
            await task
    assert (await batcher.aembed_one("ddd")).tolist() == [3.0]  # the next pass runs


async def test_a_caller_that_left_is_not_embedded():
    embedder = Recording()
    batcher = BatchingEmbedder(embedder)
    first, (gone, stays) = await queue_behind_first(embedder, batcher, ["a", "gone", "stays"])
    gone.cancel()
    embedder.release.set()
    assert (await stays).tolist() == [5.0] and (await first).tolist() == [1.0]
    assert embedder.passes == [1, 1]  # "gone" was dropped from the second pass


async def test_no_caller_waits_forever_when_the_pass_is_interrupted():
    embedder = Recording()
    batcher = BatchingEmbedder(embedder)
    first, rest = await queue_behind_first(embedder, batcher, ["a", "bb"])
    assert batcher._runner is not None
    batcher._runner.cancel()  # as at shutdown
    try:
        for task in (first, *rest):
            with pytest.raises(RuntimeError, match="interrupted"):
                await asyncio.wait_for(task, 10)
    finally:
        embedder.release.set()


def test_the_real_embedder_gives_a_question_the_same_vector_in_a_batch():
    """Padding is masked out: short and long questions together get the vectors they get
    alone (measured equal in every coordinate; allowed 1e-6 here)."""
    from reference_service.app import shared_embedder

    embedder = shared_embedder()
    texts = [
        "hi",
        "Explain HBM3.",
        "How do I set up a rate limiter with Redis and GCRA for each tenant of a class?",
        "What is the memory bandwidth of an H100 SXM compared with an A100 80GB in inference?",
    ]

    batcher = BatchingEmbedder(embedder)

    async def together() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.aembed_one(t) for t in texts))

    batched = asyncio.run(together())
    assert batcher.passes == 1  # asked in the same instant: one pass
    alone = [embedder.embed_one(t) for t in texts]
    assert np.abs(np.stack(batched) - np.stack(alone)).max() <= 1e-6
