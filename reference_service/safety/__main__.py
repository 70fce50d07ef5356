"""`python -m reference_service.safety eval --cases data/pii_cases.jsonl` (see evaluate.py)."""

from __future__ import annotations

import argparse
import json
import sys

from .evaluate import evaluate, format_report, load_cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_service.safety")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="PII precision/recall on labelled texts")
    ev.add_argument("--cases", default="data/pii_cases.jsonl")
    ev.add_argument("--split", choices=["train", "test", "all"], default="all")
    ev.add_argument("--untuned", action="store_true",
                    help="Presidio's default recognizers, no domain rules (the baseline)")
    ev.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)

    cases = load_cases(args.cases, args.split)
    if not cases:
        parser.error(f"no cases in {args.cases} (split {args.split})")
    if args.untuned:
        from .evaluate import untuned_redactor
        redactor = untuned_redactor()
    else:
        from .pii import PiiRedactor
        from .recognizers import shared_analyzer
        redactor = PiiRedactor(shared_analyzer())
    report = evaluate(redactor, cases)
    report["split"], report["config"] = args.split, "untuned" if args.untuned else "tuned"
    print(json.dumps(report) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
