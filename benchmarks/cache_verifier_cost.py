"""CPU cost of the verifier per lookup: what a semantic hit pays on top of the embedding.

    .venv/bin/python benchmarks/cache_verifier_cost.py [--rounds 5]

Every training pair (lab train splits and the QQP dev file; no test split) as a lookup
sees it: the asked question put in question form (`question_form`, paid once per lookup),
then `verifier.judge` on the stored one (paid per candidate, up to 3). Timed with
time.process_time_ns (CPU, one thread), each call on its own; no embedding, no Redis.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.stats import percentile
from reference_service.cache import train
from reference_service.cache.normalize import question_form
from reference_service.cache.verifier import judge


def pct(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 50) * 1e3:.0f} us  p99 {percentile(samples, 99) * 1e3:.0f} us"
        f"  max {max(samples) * 1e3:.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pairs = [p for _, _, p in train.load_training_pairs()]
    forms, judged = [], []
    for _ in range(args.rounds):
        for p in pairs:
            t0 = time.process_time_ns()
            q = question_form(p["text_b"])
            t1 = time.process_time_ns()
            c = question_form(p["text_a"])
            t2 = time.process_time_ns()
            judge(q, c, 0.95, 0.93)  # a similarity above the threshold: every rule runs
            t3 = time.process_time_ns()
            forms.append((t1 - t0) / 1e6)
            judged.append((t3 - t2) / 1e6)
    per_lookup = [f + 3 * j for f, j in zip(forms, judged, strict=True)]
    print(f"{len(pairs)} pairs x {args.rounds} rounds (ms -> shown in us)")
    print(f"  question_form (once per lookup):   {pct(forms)}")
    print(f"  judge (per candidate):              {pct(judged)}")
    print(f"  a lookup with 3 candidates judged:  {pct(per_lookup)}")


if __name__ == "__main__":
    main()
