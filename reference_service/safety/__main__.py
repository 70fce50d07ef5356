"""`python -m reference_service.safety eval --cases data/pii_cases.jsonl`, `... numbers` and
`... cost` (see evaluate.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .evaluate import evaluate, format_report, load_cases, number_lists

if TYPE_CHECKING:
    from .pii import PiiRedactor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_service.safety")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="PII precision/recall on labelled texts")
    ev.add_argument("--cases", default="data/pii_cases.jsonl")
    ev.add_argument("--split", choices=["train", "test", "all"], default="all")
    ev.add_argument(
        "--untuned",
        action="store_true",
        help="Presidio's default recognizers, no domain rules (the baseline)",
    )
    ev.add_argument("--json", action="store_true", help="one JSON object on stdout")
    nums = sub.add_parser("numbers", help="over-masking on synthetic hardware number lists")
    nums.add_argument("--per-kind", type=int, default=600)
    nums.add_argument("--seed", type=int, default=0)
    nums.add_argument("--untuned", action="store_true")
    cost = sub.add_parser("cost", help="what the written-form steps add per text")
    cost.add_argument("--cases", default="data/pii_cases.jsonl")
    cost.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    if args.command == "cost":
        from .evaluate import written_forms_cost

        r = written_forms_cost([c["text"] for c in load_cases(args.cases)], args.repeat)
        print(f"{r['texts']} texts x{r['repeat']}, mean {r['mean_chars']} chars")
        for key, label in (
            ("without", "analysis without the written-form steps (ms)"),
            ("with", "analysis with them (ms)"),
            ("steps_us", "normalization + the two recognizers alone (us)"),
        ):
            print(
                f"  {label:<48} p50 {r[key]['p50']:>8} p95 {r[key]['p95']:>8} "
                f"mean {r[key]['mean']:>8}"
            )
        return 0
    if args.command == "numbers":
        result = number_lists(_redactor(args.untuned), args.per_kind, args.seed)
        for kind, r in result.items():
            print(
                f"{kind:<18} {r['with_a_detection']:>4}/{r['texts']} texts with a detection "
                f"{r['by_type']}"
            )
        return 0
    cases = load_cases(args.cases, args.split)
    if not cases:
        parser.error(f"no cases in {args.cases} (split {args.split})")
    redactor = _redactor(args.untuned)
    report = evaluate(redactor, cases)
    report["split"], report["config"] = args.split, "untuned" if args.untuned else "tuned"
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def _redactor(untuned: bool) -> PiiRedactor:
    if untuned:
        from .evaluate import untuned_redactor

        return untuned_redactor()
    from .pii import PiiRedactor
    from .recognizers import shared_analyzer

    return PiiRedactor(shared_analyzer())


if __name__ == "__main__":
    sys.exit(main())
