"""The cache's decisions on the eval pairs with each EMBEDDER_BACKEND: does any differ from torch's?

    .venv/bin/python benchmarks/embedder_backends.py [--backends torch onnx onnx-int8]
                                                     [--qqp-dev] [--dir DIR]

Each pair goes through the service's cache exactly as `python -m reference_service.cache
eval` runs it (fresh cache per pair, threshold 0.93, verifier on), and through the lecture's
rule (the questions as typed, cosine >= 0.95), once per backend. Printed per file: each
backend's precision / recall, the number of pairs whose hit-or-miss differs from torch's
(service, lecture rule), and the largest |difference| of a pair's cosine from torch's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from reference_service.cache.embedder import load_embedder
from reference_service.cache.evaluate import Pair, load_pairs, run_pairs, score
from reference_service.cache.normalize import question_form

ROOT = Path(__file__).parents[1]
FILES = [
    ("lab, held-out topics", ROOT / "data/cache_pairs_topics.jsonl", "test"),
    ("lab, older test split", ROOT / "data/cache_pairs.jsonl", "test"),
    ("lab, topics file, train split", ROOT / "data/cache_pairs_topics.jsonl", "train"),
    ("QQP held-out", ROOT / "data/qqp_heldout.jsonl", None),
]
QQP_DEV = ("QQP dev", ROOT.parent / "shared/data/qqp_dev.jsonl", None)


def decisions(pairs: list[Pair], embedder) -> dict[str, np.ndarray]:
    """Per pair: the service's hit, the lecture rule's hit, and the two cosines."""
    outcomes = asyncio.run(run_pairs(pairs, embedder, 0.93))
    typed_a, typed_b = embedder.embed([p.a for p in pairs]), embedder.embed([p.b for p in pairs])
    form_a = embedder.embed([question_form(p.a) for p in pairs])
    form_b = embedder.embed([question_form(p.b) for p in pairs])
    return {
        "service": np.array([o.hit for o in outcomes]),
        "lecture": (typed_a * typed_b).sum(1) >= 0.95,
        "cos_typed": (typed_a * typed_b).sum(1),
        "cos_form": (form_a * form_b).sum(1),
        "score": score(outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--qqp-dev", action="store_true", help="also the 3,000 QQP dev pairs")
    parser.add_argument("--dir", type=Path, help="EMBEDDER_ONNX_DIR")
    args = parser.parse_args()
    embedders = {b: load_embedder(b, args.dir) for b in args.backends}
    files = FILES + ([QQP_DEV] if args.qqp_dev else [])
    totals = {b: [0, 0, 0] for b in args.backends[1:]}  # pairs differing: service, lecture; n
    for name, path, split in files:
        pairs = load_pairs(path, split)
        runs = {b: decisions(pairs, e) for b, e in embedders.items()}
        base = runs[args.backends[0]]
        print(f"{name} ({len(pairs)} pairs)")
        for b, r in runs.items():
            s = r["score"]
            line = f"  {b:<10} service P {s['precision']} R {s['recall']} hits {s['hits']}"
            if b != args.backends[0]:
                d_service = int((r["service"] != base["service"]).sum())
                d_lecture = int((r["lecture"] != base["lecture"]).sum())
                d_cos = max(
                    np.abs(r["cos_typed"] - base["cos_typed"]).max(),
                    np.abs(r["cos_form"] - base["cos_form"]).max(),
                )
                totals[b][0] += d_service
                totals[b][1] += d_lecture
                totals[b][2] = max(totals[b][2], d_cos)
                line += (
                    f" | differ from {args.backends[0]}: service {d_service}, lecture rule "
                    f"{d_lecture}; max |cosine difference| {d_cos:.2g}"
                )
            print(line)
    for b, (d_service, d_lecture, d_cos) in totals.items():
        print(
            f"{b}: {d_service} service and {d_lecture} lecture-rule decisions differ from "
            f"{args.backends[0]}'s; max |cosine difference| {d_cos:.2g}"
        )


if __name__ == "__main__":
    main()
