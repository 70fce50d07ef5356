"""Measure what the cache buys: for each (question, follow-up) pair, ask the question
(a miss: the LLM answers) then the follow-up (a paraphrase should hit; a hard negative
must not), through the service's /chat, and compare latencies.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# (question, follow-up, should the follow-up be served from the cache?)
QUERIES: list[tuple[str, str, bool]] = [
    ("What is HBM3?", "what is hbm3", True),
    ("What is CXL?", "What is Compute Express Link?", True),
    ("How do I enable ECC in the BIOS?", "In the BIOS, how do I enable ECC?", True),
    ("What is NVLink?", "Can you explain NVLink?", True),
    ("What does the BMC do?", "What does the baseboard management controller do?", True),
    ("Where can I download the latest GPU driver?",
     "The latest GPU driver, where can I download it?", True),
    ("What is the TDP of the H100 SXM5?", "What is the thermal design power of the H100 SXM5?", True),
    ("How long does shipping to Canada take?", "Shipping to Canada takes how long?", True),
    ("What is a chiplet?", "What are chiplets?", True),
    ("What is PAM4 signaling?", "Explain PAM4 signaling", True),
    # hard negatives: similar wording, different question (add your own)
    ("Is the H100 faster than the A100?", "Is the A100 faster than the H100?", False),
    ("What is the bandwidth of PCIe 5.0 x16?", "What is the bandwidth of PCIe 5.0 x4?", False),
]


@dataclass
class PairResult:
    question: str
    follow_up: str
    should_hit: bool
    miss_ms: float
    follow_up_ms: float
    follow_up_cache: str  # the X-Cache header: HIT, MISS or BYPASS


@dataclass
class Report:
    pairs: int
    hit_rate: float  # share of the should-hit follow-ups that hit
    wrong_hits: int  # hard negatives that were served from the cache
    miss_p50_ms: float
    hit_p50_ms: float
    speedup: float  # miss p50 / hit p50


def run_benchmark(base_url: str, queries=QUERIES, client: httpx.Client | None = None
                  ) -> list[PairResult]:
    """Ask each question, then its follow-up, timing both (wall clock at the client)."""
    # BEGIN SOLUTION: POST each question then each follow-up to /chat; time them; read X-Cache
    http = client or httpx.Client(base_url=base_url, timeout=60)
    results = []
    for question, follow_up, should_hit in queries:
        start = time.perf_counter()
        r = http.post("/chat", json={"message": question})
        r.raise_for_status()
        miss_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        r = http.post("/chat", json={"message": follow_up})
        r.raise_for_status()
        results.append(PairResult(question, follow_up, should_hit, miss_ms,
                                  (time.perf_counter() - start) * 1000,
                                  r.headers.get("x-cache", "BYPASS")))
    if client is None:
        http.close()
    return results
    # END SOLUTION


def summarize(results: list[PairResult]) -> Report:
    """Hit rate over the should-hit pairs, wrong hits, and the speedup of a hit over a miss."""
    # BEGIN SOLUTION: hit rate, wrong hits, p50 of misses and of hits, their ratio
    should = [r for r in results if r.should_hit]
    hits = [r for r in should if r.follow_up_cache == "HIT"]
    wrong = [r for r in results if not r.should_hit and r.follow_up_cache == "HIT"]
    miss_p50 = statistics.median(r.miss_ms for r in results)
    hit_p50 = statistics.median(r.follow_up_ms for r in hits) if hits else float("nan")
    return Report(pairs=len(results), hit_rate=len(hits) / len(should) if should else 0.0,
                  wrong_hits=len(wrong), miss_p50_ms=miss_p50, hit_p50_ms=hit_p50,
                  speedup=miss_p50 / hit_p50 if hits else 0.0)
    # END SOLUTION


def plot(results: list[PairResult], path: Path) -> None:
    """A PNG of the latency distributions: misses vs cache hits (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    misses = [r.miss_ms for r in results] + [r.follow_up_ms for r in results
                                             if r.follow_up_cache != "HIT"]
    hits = [r.follow_up_ms for r in results if r.follow_up_cache == "HIT"]
    fig, ax = plt.subplots(figsize=(6, 3), dpi=110)
    ax.boxplot([misses, hits or [float("nan")]], tick_labels=["miss (LLM)", "cache hit"],
               orientation="horizontal")
    ax.set_xscale("log")
    ax.set_xlabel("latency at the client, ms")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
