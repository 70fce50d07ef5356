"""The PII pass with and without spaCy's dependency parser (issue #18; tried, not shipped).

    .venv/bin/python benchmarks/pii_parser.py [--texts 2000] [--rounds 3]

The analyzer the service builds (safety/recognizers.py, the whole pipeline) against the
same analyzer with the parser switched off, on the same texts: every text of
data/pii_cases.jsonl, then QQP dev questions (../shared/data/qqp_dev.jsonl, if present) up
to --texts. Reports the CPU per text of each (process time, the two interleaved round by
round so the machine's load weighs on both alike) and how many texts get different
findings (entity type, start, end, score).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile


def load_texts(limit: int) -> list[str]:
    lines = (ROOT / "data" / "pii_cases.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    qqp = ROOT.parent / "shared" / "data" / "qqp_dev.jsonl"
    if qqp.exists():
        for line in qqp.read_text().splitlines():
            pair = json.loads(line)
            texts += [pair["text_a"], pair["text_b"]]
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from reference_service.safety.recognizers import shared_analyzer

    analyzer = shared_analyzer()
    nlp = analyzer.nlp_engine.nlp["en"]  # type: ignore[attr-defined]
    assert "parser" not in nlp.disabled, "the service's analyzer runs the parser"
    texts = load_texts(args.texts)

    def findings(text: str) -> list[tuple[str, int, int, float]]:
        results = analyzer.analyze(text, language="en")
        return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results)

    cpu: dict[str, list[float]] = {"without parser": [], "with parser (the service)": []}
    differing = 0
    for _ in range(args.rounds):
        for text in texts:
            t = time.process_time()
            on = findings(text)
            cpu["with parser (the service)"].append(time.process_time() - t)
            nlp.disable_pipe("parser")
            t = time.process_time()
            off = findings(text)
            cpu["without parser"].append(time.process_time() - t)
            nlp.enable_pipe("parser")
            differing += off != on
    print(f"{len(texts)} texts x {args.rounds} rounds; texts with different findings: {differing}")
    for name, values in cpu.items():
        mean = sum(values) / len(values) * 1000
        p50 = percentile(values, 50) * 1000
        print(f"  {name}: mean {mean:.2f} ms, p50 {p50:.2f} ms of CPU per text")


if __name__ == "__main__":
    main()
