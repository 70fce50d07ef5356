"""lecture.cache: the lecture's SemanticCache and cached_chat, as the lecture behaves (its
keys, commands, constants and bugs), on fakeredis."""

from __future__ import annotations

import json

import fakeredis
import numpy as np
import pytest
from openai import AsyncOpenAI

from lecture.cache import SemanticCache, cached_chat


class TableModel:
    """A stand-in embedding model: each text has a fixed unit vector."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table
        self.calls: list[tuple[str, bool]] = []

    def encode(self, text, normalize_embeddings=False):
        self.calls.append((text, normalize_embeddings))
        v = np.array(self.table[text], dtype=np.float32)
        return v / np.linalg.norm(v) if normalize_embeddings else v


def angle(cos: float) -> list[float]:
    """A 2-d vector at cosine `cos` from [1, 0]."""
    return [cos, float(np.sqrt(1 - cos * cos))]


@pytest.fixture
def r():
    return fakeredis.FakeRedis()


def test_set_writes_the_lectures_keys_with_setex_and_rpush(r):
    model = TableModel({"What is HBM3?": [3.0, 4.0]})
    cache = SemanticCache(redis=r, model=model, clock=lambda: 1700000000.4, log=None)
    cache.set("What is HBM3?", "High Bandwidth Memory 3.")
    ids = [i.decode() for i in r.lrange("cache:index", 0, -1)]
    assert len(ids) == 1 and ids[0].startswith("1700000000_")
    assert json.loads(r.get(f"cache:emb:{ids[0]}")) == pytest.approx([0.6, 0.8])
    assert r.get(f"cache:ans:{ids[0]}") == b"High Bandwidth Memory 3."
    assert 3590 < r.ttl(f"cache:emb:{ids[0]}") <= 3600 and r.ttl(f"cache:ans:{ids[0]}") > 3590
    assert r.ttl("cache:index") == -1  # the lecture's index never expires
    assert model.calls == [("What is HBM3?", True)]


def test_get_serves_the_best_match_at_or_above_095_only(r):
    model = TableModel({"q": [1, 0], "near": angle(0.96), "far": angle(0.94), "other": [0, 1]})
    said = []
    cache = SemanticCache(redis=r, model=model, log=said.append)
    cache.set("q", "answer q")
    cache.set("other", "answer other")
    assert cache.get("near") == "answer q"
    assert cache.get("far") is None
    assert said[-2:] == ["[Cache HIT] similarity=0.9600", "[Cache MISS] best_similarity=0.9400"]
    assert said[0].startswith("[Cache SET] id=")
    assert cache.stats() == {"cached_entries": 2, "ttl_seconds": 3600, "threshold": 0.95}


def test_the_lectures_bugs_are_kept(r):
    model = TableModel({"q": [1, 0]})
    cache = SemanticCache(redis=r, model=model, clock=lambda: 5.0, log=None)
    cache.set("q", "first")
    cache.set("q", "second")  # the same second: the same id, indexed twice
    assert r.lrange("cache:index", 0, -1) == [r.lrange("cache:index", 0, 0)[0]] * 2
    assert cache.stats()["cached_entries"] == 2
    assert cache.get("q") == "second"
    # An expired entry stays in the index (and in stats) and is skipped by get.
    for key in r.keys("cache:emb:*") + r.keys("cache:ans:*"):
        r.delete(key)
    assert cache.get("q") is None and cache.stats()["cached_entries"] == 2


def test_prints_go_to_stdout_by_default_and_nowhere_with_log_none(r, capsys):
    model = TableModel({"q": [1, 0]})
    SemanticCache(redis=r, model=model).get("q")
    assert capsys.readouterr().out == "[Cache MISS] best_similarity=-1.0000\n"
    SemanticCache(redis=r, model=model, log=None).get("q")
    assert capsys.readouterr().out == ""


def test_only_the_shipped_model_loads_by_name(r):
    with pytest.raises(ValueError, match="only all-MiniLM-L6-v2"):
        SemanticCache(redis=r, model_name="all-mpnet-base-v2")


async def test_cached_chat_calls_the_llm_once_then_serves_the_cache(r, mock):
    model = TableModel({"What is HBM3?": [1, 0], "what is hbm3": angle(0.99)})
    cache = SemanticCache(redis=r, model=model, log=None)
    client = AsyncOpenAI(base_url=mock.base_url, api_key="x", max_retries=0)
    answer, from_cache = await cached_chat("What is HBM3?", cache=cache, client=client)
    assert not from_cache and "HBM3" in answer
    assert await cached_chat("what is hbm3", cache=cache, client=client) == (answer, True)
    calls = mock.state.chat_requests()
    assert len(calls) == 1
    # As the lecture: no system prompt, temperature 0, gpt-4o-mini.
    assert calls[0].body["messages"] == [{"role": "user", "content": "What is HBM3?"}]
    assert calls[0].body["temperature"] == 0 and calls[0].body["model"] == "gpt-4o-mini"


@pytest.mark.slow
def test_with_minilm_it_serves_the_answer_to_the_opposite_question(r):
    cache = SemanticCache(redis=r, log=None)  # the default model, loaded offline
    cache.set("Is the H100 faster than the A100?", "Yes: 2-3x for LLM training.")
    assert cache.get("Is the A100 faster than the H100?") == "Yes: 2-3x for LLM training."
    assert cache.get("What is Compute Express Link?") is None
