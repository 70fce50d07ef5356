"""python -m solutions.cache_benchmark lecture|service [--url URL] [--admin-token T] [--plot PNG]

lecture: the lecture's SemanticCache on your InMemoryRedis, the fake LLM started here at
  realistic timing; nothing else to run.
service: the lab's service at --url (start it with `make serve`, fresh: its cache must not
  hold the questions yet; or give it ADMIN_TOKEN and pass --admin-token to empty it first).

Prints each pair, the summary and the plot's path.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path

from .bench import (
    QUERIES,
    StaleCache,
    plot,
    run_lecture_benchmark,
    run_service_benchmark,
    summarize,
)

HERE = Path(__file__).parent


def run_lecture() -> list:
    from openai import AsyncOpenAI

    from lecture.cache import SemanticCache
    from mock_llm import MockConfig, MockLLMServer

    from .store import InMemoryRedis

    print("loading the embedding model...", flush=True)
    cache = SemanticCache(redis=InMemoryRedis(), log=None)
    cache.model.encode("warm up", normalize_embeddings=True)  # the first encode is slow
    with MockLLMServer(MockConfig(latency="realistic")) as llm:
        client = AsyncOpenAI(base_url=llm.base_url, api_key="not-needed", max_retries=0)
        return asyncio.run(run_lecture_benchmark(cache, client))


def f(x: float, unit: str = "") -> str:
    return "-" if math.isnan(x) else f"{x:.1f}{unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cache_benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", choices=["lecture", "service"])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--admin-token", help="the service's ADMIN_TOKEN: empty its cache first")
    parser.add_argument("--plot", type=Path, help="the PNG to write (default: beside this code)")
    args = parser.parse_args(argv)
    try:
        results = (
            run_lecture()
            if args.path == "lecture"
            else run_service_benchmark(args.url, admin_token=args.admin_token)
        )
    except StaleCache as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"\n{'question (miss)':>16} {'paraphrase':>12}")
    for r in results:
        verdict = (
            ("hit" if r.same_answer else "WRONG hit") if r.paraphrase_cache == "HIT" else "miss"
        )
        print(f"{r.miss_ms:13.1f} ms {r.paraphrase_ms:9.1f} ms  {verdict:<9} {r.paraphrase}")
    s = summarize(results)
    print(
        f"\n{len(QUERIES) * 2} queries, {s.pairs} pairs: hit rate {s.hit_rate:.0%} "
        f"({s.hits} right hits, {s.wrong_hits} wrong hits)"
    )
    print(
        f"median miss {f(s.miss_p50_ms, ' ms')} (n={s.pairs}), "
        f"median hit {f(s.hit_p50_ms, ' ms')} (n={s.hits})"
    )
    print(
        f"speedup: mean of per-pair ratios {f(s.speedup_mean, 'x')}, "
        f"ratio of medians {f(s.speedup_of_medians, 'x')}"
    )
    path = args.plot or HERE / f"{args.path}.png"
    plot(
        results,
        path,
        title=f"{args.path} path: hit rate {s.hit_rate:.0%}, "
        f"speedup {f(s.speedup_mean, 'x')} (mean of ratios)",
    )
    print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
