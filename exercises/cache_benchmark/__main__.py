# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.
"""python -m exercises.cache_benchmark [--url URL] [--plot cache.png]

Runs against a service (default: the one `make serve` starts). Prints each pair and the
summary: hit rate, wrong hits, miss vs hit latency and the speedup.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .bench import plot, run_benchmark, summarize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cache_benchmark", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--plot", type=Path, default=Path("cache_benchmark.png"))
    args = parser.parse_args(argv)
    results = run_benchmark(args.url)
    for r in results:
        print(f"{r.miss_ms:8.1f} ms -> {r.follow_up_ms:8.1f} ms {r.follow_up_cache:<6} "
              f"{'(should hit)' if r.should_hit else '(must not hit)':<15} {r.follow_up}")
    s = summarize(results)
    print(f"\nhit rate {s.hit_rate:.0%}, wrong hits {s.wrong_hits}, miss p50 {s.miss_p50_ms:.0f} ms, "
          f"hit p50 {s.hit_p50_ms:.1f} ms, speedup {s.speedup:.0f}x")
    plot(results, args.plot)
    print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
