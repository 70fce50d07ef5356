"""python -m reference_service.routing train|eval [--data FILE] [--threshold T] [--plot PNG]

train  fit the weighted router on the train split; writes routing/weights.json
eval   accuracy, quality, strong share, cost per 1k queries and saving (times cheaper
       than always-strong) on the test split for always-cheap, always-strong, random, the
       lecture's estimate_complexity and the weighted router, with three reference points
       (the weighted router at the lecture's strong share, word count alone, the labels);
       --plot writes the quality vs strong-share figure, --json prints the report as JSON,
       --mistakes lists the queries the lecture's rule and the weighted router misroute
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import LectureRouter, WeightedRouter, default_weights
from .evaluate import evaluate, load, mistakes, plot, train

DATA = Path("data/routing_queries.jsonl")
WEIGHTS = Path(__file__).with_name("weights.json")


# long: one argparse tree and its dispatch, read top to bottom
def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m reference_service.routing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["train", "eval"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--split", default="test")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--mistakes", action="store_true", help="list misrouted queries")
    args = parser.parse_args()
    examples = load(args.data)

    if args.command == "train":
        model = train(examples)
        WEIGHTS.write_text(json.dumps(model, indent=2) + "\n")
        print(f"wrote {WEIGHTS}: {model['weights']}")
        return

    default_weights.cache_clear()
    router = WeightedRouter(default_weights())
    report = evaluate(examples, router, args.threshold, split=args.split)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['split']} split: {report['n']} queries, "
            f"{report['strong_needed']:.0%} need the strong model\n"
        )
        print(
            f"{'router':<18} {'accuracy':>8} {'quality':>8} {'strong':>8} {'USD/1k':>8} "
            f"{'saving':>7}"
        )
        for name, r in report["rows"].items():
            print(
                f"{name:<18} {r['accuracy']:>8.3f} {r['quality']:>8.3f} "
                f"{r['strong_share']:>8.3f} {r['usd_per_1k']:>8.3f} {r['saving']:>6.1f}x"
            )
        print(
            f"\nlecture: its estimate_complexity and select_model (complex -> gpt-4o)\n"
            f"weighted@{report['same_share_threshold']:.3f}: the weighted router's threshold "
            f"that sends as many queries to gpt-4o as the lecture's rule\n"
            f"words>={report['word_cut']}: {report['word_cut']} words or more -> gpt-4o, "
            f"the cut most accurate on the train split\n"
            f"labels: every query on the model its label names (a perfect router)\n"
            f"saving: always_strong's cost / this row's cost"
        )
    if args.mistakes:
        for name, r in (("lecture", LectureRouter()), ("weighted", router)):
            wrong = mistakes(examples, r, args.threshold, args.split)
            up = sum(label == "cheap" for _, label, _ in wrong)
            print(
                f"\nmisrouted by {name}: {len(wrong)} of {report['n']} "
                f"({len(wrong) - up} hard sent to the cheap model, {up} easy to the strong):"
            )
            for q, label, s in wrong:
                print(f"  needs {label:<6} score {s:<5} {q}")
    if args.plot:
        plot(report, args.plot)
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
