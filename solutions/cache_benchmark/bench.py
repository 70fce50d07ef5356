"""The lecture's cache benchmark: 20 queries, 10 unique questions and a near-paraphrase of
each; ask the question (a miss: the LLM answers), then its paraphrase (a hit if the cache
serves it), time both, and report the hit rate and the speedup of a hit over a miss.

Two paths: the lecture's SemanticCache used directly, on your dict-based store
(`run_lecture_benchmark`), and the lab's service over HTTP (`run_service_benchmark`).
Both give the same PairResults, so `latency_groups`, `summarize` and `plot` serve both.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from lecture.cache import SemanticCache, cached_chat

# The lecture's 20 queries: (a unique question, a near-paraphrase of it). Same meaning, so
# every paraphrase deserves the question's answer. Some are worded closely (the lecture's
# cache serves them), some use a long form of an acronym (it does not).
QUERIES: list[tuple[str, str]] = [
    ("What is HBM3?", "what is hbm3"),
    ("What is CXL?", "What is Compute Express Link?"),
    ("How do I enable ECC in the BIOS?", "In the BIOS, how do I enable ECC?"),
    ("What is NVLink?", "Can you explain NVLink?"),
    ("What does the BMC do?", "What does the baseboard management controller do?"),
    (
        "Where can I download the latest GPU driver?",
        "The latest GPU driver, where can I download it?",
    ),
    ("What is the TDP of the H100 SXM5?", "What is the thermal design power of the H100 SXM5?"),
    ("How long does shipping to Canada take?", "How long does shipping to Canada usually take?"),
    ("What is a chiplet?", "What are chiplets?"),
    ("What is PAM4 signaling?", "Explain PAM4 signaling"),
]
SERVICE_MODEL = "gpt-4o-mini"  # both calls of a pair on one model: one cache scope


class StaleCache(RuntimeError):
    """A question was already cached before the benchmark asked it: its time is not a miss."""


@dataclass
class PairResult:
    question: str
    paraphrase: str
    miss_ms: float  # the question, asked first: a miss, the LLM answered
    paraphrase_ms: float  # the paraphrase, asked right after
    paraphrase_cache: str  # "HIT" if the paraphrase was answered from the cache, else "MISS"
    same_answer: bool  # the paraphrase got exactly the question's answer


@dataclass
class Report:
    pairs: int
    hits: int  # paraphrases answered from the cache with their question's answer
    wrong_hits: int  # paraphrases answered from the cache with another answer
    hit_rate: float  # hits / pairs
    miss_p50_ms: float  # median of the "miss" group
    hit_p50_ms: float  # median of the "hit" group (nan if it is empty)
    speedup_mean: float  # mean over the hit pairs of miss_ms / paraphrase_ms (nan if none)
    speedup_of_medians: float  # miss_p50_ms / hit_p50_ms (nan if no hit)


async def run_lecture_benchmark(cache: SemanticCache, client, queries=QUERIES) -> list[PairResult]:
    """Each question then its paraphrase through the lecture's `cached_chat`, timed.

    `cache` is the lecture's SemanticCache (on your InMemoryRedis), `client` an
    openai.AsyncOpenAI on the LLM. Raises StaleCache if a question was already cached.
    """
    # BEGIN SOLUTION: time cached_chat(question), then cached_chat(paraphrase); compare answers
    results = []
    for question, paraphrase in queries:
        start = time.perf_counter()
        answer, from_cache = await cached_chat(question, cache=cache, client=client)
        miss_ms = (time.perf_counter() - start) * 1000
        if from_cache:
            raise StaleCache(f"{question!r} was already in the cache: use an empty store")
        start = time.perf_counter()
        second, second_from_cache = await cached_chat(paraphrase, cache=cache, client=client)
        paraphrase_ms = (time.perf_counter() - start) * 1000
        results.append(
            PairResult(
                question,
                paraphrase,
                miss_ms,
                paraphrase_ms,
                "HIT" if second_from_cache else "MISS",
                second == answer,
            )
        )
    return results
    # END SOLUTION


def run_service_benchmark(
    base_url: str,
    queries=QUERIES,
    client: httpx.Client | None = None,
    admin_token: str | None = None,
) -> list[PairResult]:
    """Each question then its paraphrase through the service's POST /chat, timed at the
    client. With `admin_token`, the service's cache is emptied first (DELETE /admin/cache).
    Raises StaleCache if a question was already cached (a rerun on the same service)."""
    http = client or httpx.Client(base_url=base_url, timeout=60)
    try:
        if admin_token:
            http.delete(
                "/admin/cache", headers={"Authorization": f"Bearer {admin_token}"}
            ).raise_for_status()
        # BEGIN SOLUTION: POST {"message", "model"} to /chat for each; time it; X-Cache, "answer"
        results = []
        for question, paraphrase in queries:
            start = time.perf_counter()
            first = http.post("/chat", json={"message": question, "model": SERVICE_MODEL})
            miss_ms = (time.perf_counter() - start) * 1000
            first.raise_for_status()
            if first.headers.get("x-cache") != "MISS":
                raise StaleCache(
                    f"{question!r} was not a cache miss (X-Cache: {first.headers.get('x-cache')}):"
                    f" restart the service, or give it ADMIN_TOKEN and pass --admin-token"
                )
            start = time.perf_counter()
            second = http.post("/chat", json={"message": paraphrase, "model": SERVICE_MODEL})
            paraphrase_ms = (time.perf_counter() - start) * 1000
            second.raise_for_status()
            results.append(
                PairResult(
                    question,
                    paraphrase,
                    miss_ms,
                    paraphrase_ms,
                    "HIT" if second.headers.get("x-cache") == "HIT" else "MISS",
                    second.json()["answer"] == first.json()["answer"],
                )
            )
        return results
        # END SOLUTION
    finally:
        if client is None:
            http.close()


def latency_groups(results: list[PairResult]) -> dict[str, list[float]]:
    """The latencies each statistic (and the plot) uses, in the order of `results`:
    "miss": every question's time (the first calls, all misses);
    "hit": the paraphrase's time of each pair answered from the cache with the right answer.
    A wrong hit, or a paraphrase the cache did not serve, is in neither group."""
    # BEGIN SOLUTION: miss = every miss_ms; hit = paraphrase_ms where HIT and same_answer
    return {
        "miss": [r.miss_ms for r in results],
        "hit": [r.paraphrase_ms for r in results if r.paraphrase_cache == "HIT" and r.same_answer],
    }
    # END SOLUTION


def summarize(results: list[PairResult]) -> Report:
    """Hit rate, wrong hits, the medians of the two groups, and the speedup two ways."""
    # BEGIN SOLUTION: counts; medians of latency_groups; mean of per-pair ratios; ratio of medians
    nan = float("nan")
    groups = latency_groups(results)
    right = [r for r in results if r.paraphrase_cache == "HIT" and r.same_answer]
    wrong = [r for r in results if r.paraphrase_cache == "HIT" and not r.same_answer]
    miss_p50 = statistics.median(groups["miss"]) if groups["miss"] else nan
    hit_p50 = statistics.median(groups["hit"]) if groups["hit"] else nan
    return Report(
        pairs=len(results),
        hits=len(right),
        wrong_hits=len(wrong),
        hit_rate=len(right) / len(results) if results else 0.0,
        miss_p50_ms=miss_p50,
        hit_p50_ms=hit_p50,
        speedup_mean=statistics.mean(r.miss_ms / r.paraphrase_ms for r in right) if right else nan,
        speedup_of_medians=miss_p50 / hit_p50 if right else nan,
    )
    # END SOLUTION


def plot(results: list[PairResult], path: Path, title: str = "") -> dict[str, list[float]]:
    """A PNG at `path` (its folder made if missing): the distribution of the two latency
    groups (log scale), each point shown; returns the groups it drew (they must be
    latency_groups(results))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # BEGIN SOLUTION: one box (and its points) per group, log x axis; make path's folder; save
    groups = latency_groups(results)
    labels = [
        f"miss: question (n={len(groups['miss'])})",
        f"hit: paraphrase, right answer (n={len(groups['hit'])})",
    ]
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    data = [groups["miss"] or [float("nan")], groups["hit"] or [float("nan")]]
    ax.boxplot(data, orientation="horizontal", widths=0.5)
    for y, values in enumerate(data, 1):
        ax.plot(values, [y] * len(values), "o", alpha=0.6, ms=4)
    ax.set_yticks([1, 2], labels)
    ax.set_xscale("log")
    ax.set_xlabel("latency at the client, ms (log scale)")
    ax.set_title(title or "Cache benchmark: latency per call", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return groups
    # END SOLUTION
