"""python -m reference_service.cache eval --pairs FILE.jsonl [--threshold T] [--split S]
                                          [--sweep] [--plot PNG] [--json] [--errors]
python -m reference_service.cache train [--compare-model]
python -m reference_service.cache replay [--workload lab|lab-train|qqp] [--questions N]
                                         [--hours H] [--seed S] [--plot PNG] [--json]

Runs each pair through the cache the service uses (store a, look up b, a fresh cache per
pair) and prints precision of hits, recall and false-hit rate; --sweep adds the curve over
thresholds (cosine similarity, 0.70-0.99), --plot writes it as a PNG, --json prints one
JSON object (precision, recall, false_hit_rate, threshold, n_pairs, ...); --errors lists
the false hits (pairs labelled different that were served), for error analysis on a
development file (not a test file: reading its errors is tuning on it).

train chooses the similarity threshold by cross-validation on the training pairs and the
QQP dev file (train.py) and writes reference_service/cache/operating_point.json;
--compare-model also prints the learned verifier that was tried, out of fold.

replay sends a workload of N questions (default 2,000: users asking the same few hundred
things in their own words, replay.py) through the lecture's cache (cosine >= 0.95, 1 h
expiry) and the lab's, and prints LLM calls saved, wrong answers served and cost saved;
--plot writes the two curves as a PNG.

python -m reference_service.cache export-onnx [--variant fp32|int8] [--dir DIR] [--force]
builds the ONNX file of EMBEDDER_BACKEND=onnx (fp32) or onnx-int8 from the packaged weights
(default DIR: EMBEDDER_ONNX_DIR, else ~/.cache/llm-production-lab/onnx) and prints its path;
a file already there (named by the weights' sha256, which are checked) is kept unless
--force (rebuild after changing the export code).

Every command embeds with --backend (default: EMBEDDER_BACKEND).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings

if TYPE_CHECKING:
    from .embedder import Embedder
    from .onnx_embedder import OnnxEmbedder


# long: one argparse tree and its dispatch, read top to bottom
def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m reference_service.cache",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings = Settings(_env_file=None)  # as the threshold below: the environment, not .env
    parser.add_argument("command", choices=["eval", "train", "replay", "export-onnx"])
    parser.add_argument(
        "--backend", choices=["torch", "onnx", "onnx-int8"], default=settings.embedder_backend
    )
    parser.add_argument("--variant", choices=["fp32", "int8"], default="fp32")
    parser.add_argument(
        "--force", action="store_true", help="export-onnx: rebuild even if the file is there"
    )
    parser.add_argument("--dir", type=Path, default=settings.embedder_onnx_dir)
    parser.add_argument("--pairs", type=Path)
    parser.add_argument("--threshold", type=float, default=settings.cache_similarity_threshold)
    parser.add_argument("--split", help="only pairs of this split (train or test)")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--compare-model", action="store_true")
    parser.add_argument("--errors", action="store_true", help="eval: list the false hits")
    parser.add_argument(
        "--lecture",
        action="store_true",
        help="eval: the lecture's rule instead (typed questions, cosine >= 0.95)",
    )
    parser.add_argument("--workload", default="lab", choices=["lab", "lab-train", "qqp"])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.command == "export-onnx":
        from .embedder import check_weights, model_dir
        from .onnx_embedder import export_onnx, onnx_path

        # The file is named by the weights it was made from: once they are checked to be
        # those, one already there is this one (`make setup` runs this after every
        # reinstall; a rebuild takes ~10 s).
        present = onnx_path(args.dir, args.variant)
        if present.exists() and not args.force:
            check_weights(model_dir())
            print("already built from these weights; --force rebuilds it", file=sys.stderr)
            print(present)
        else:
            print(export_onnx(args.dir, args.variant))
        return
    if args.command == "train":
        from .train import QQP_DEV

        if not QQP_DEV.exists():
            parser.error(f"training needs the course's QQP dev file at {QQP_DEV}")
    from .embedder import load_embedder

    embedder = load_embedder(args.backend, args.dir)
    if args.command == "train":
        _train(embedder, args.compare_model)
        return
    if args.command == "replay":
        _replay(args, embedder)
        return
    if args.pairs is None:
        parser.error("eval needs --pairs")
    from .evaluate import evaluate_file, plot_curve

    if args.lecture:
        _lecture(args, embedder)
        return

    from ..routing import make_router

    report = evaluate_file(
        args.pairs,
        args.threshold,
        args.split,
        args.sweep or bool(args.plot),
        embedder,
        args.errors,
        make_router(settings.router),
        settings.route_threshold,
    )
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report, args.pairs, args.split, args.threshold, settings.router)
    if args.plot:
        plot_curve({args.pairs.stem: report["curve"]}, args.plot, args.threshold)
        print(f"wrote {args.plot}")


def _print_report(
    report: dict[str, Any], pairs: Path, split: str | None, threshold: float, router: str
) -> None:
    print(
        f"{pairs} ({split or 'all'}): {report['n_pairs']} pairs, "
        f"{report['positives']} answerable; threshold {threshold:g} (cosine)"
    )
    print(
        f"  precision {report['precision']}  recall {report['recall']}  "
        f"false-hit rate {report['false_hit_rate']}  hits {report['hits']}"
    )
    r = report["routing"]
    print(
        f"  routing on (ROUTER={router}): {r['answerable_apart']} answerable and "
        f"{r['different_apart']} different pairs go to two models; scoped by the chosen "
        f"model, precision {r['scoped_by_model']['precision']} recall "
        f"{r['scoped_by_model']['recall']}"
    )
    for kind, k in report.get("by_kind", {}).items():
        print(f"    {kind:<16} label {k['label']}  hits {k['hits']}/{k['n']}")
    if "false_hits" in report:
        print(f"\n  false hits ({len(report['false_hits'])}): similarity, tier | stored || asked")
        for e in report["false_hits"]:
            sim = f"{e['similarity']:.3f}" if e["similarity"] is not None else "  -  "
            print(f"    {sim} {e['tier']:<8} | {e['stored']} || {e['asked']}")
    if "curve" in report:
        print("\n  threshold  precision  recall  false-hit | cosine only: precision recall")
        for c in report["curve"]:
            co = c["cosine_only"]
            print(
                f"  {c['threshold']:>9.3f}  {c['precision'] or 0:>9.3f}  {c['recall']:>6.3f}"
                f"  {c['false_hit_rate']:>9.3f} | {co['precision'] or 0:>9.3f} "
                f"{co['recall']:>6.3f}"
            )


def _train(embedder: Embedder | OnnxEmbedder, compare_model: bool) -> None:
    from . import train

    rows = train.build_rows(train.load_training_pairs(), embedder)
    point = train.operating_point(rows)
    train.write(point)
    print(
        f"similarity threshold {point['similarity_threshold']} (targets: precision "
        f"{train.TARGET_PRECISION}, recall {train.TARGET_RECALL}; the smallest room "
        f"{point['chosen_for']['room']} standard errors); wrote {train.OPERATING_POINT.name}"
    )
    for s, r in (point["on_training_data"] or {}).items():
        print(
            f"  {s}: precision {r['precision']} recall {r['recall']} "
            f"false-hit rate {r['false_hit_rate']} ({r['pairs']} pairs)"
        )
    print("  cross-validation (threshold chosen on 4 folds, judged on the 5th):")
    for f in point["cross_validation"]["per_fold"]:
        print(
            f"    fold {f['fold']}: threshold {f['threshold']}  "
            + "  ".join(
                f"{s} P {f[s]['precision']} R {f[s]['recall']}" for s in ("lab", "qqp") if s in f
            )
        )
    if compare_model:
        print("\n  learned verifier (logistic regression, out of fold) vs the threshold:")
        for line in train.compare_model(rows):
            print(
                f"    p >= {line['model_probability_at_least']:<5} "
                + "  ".join(
                    f"{s} P {line[s]['precision']} R {line[s]['recall']}" for s in ("lab", "qqp")
                )
            )
        for t in (0.88, 0.90, 0.92, 0.925, 0.93, 0.95):
            print(
                f"    cos >= {t:<4}  "
                + "  ".join(
                    f"{s} P {train.rates(rows, t, s)['precision']} R {train.rates(rows, t, s)['recall']}"
                    for s in ("lab", "qqp")
                )
            )


def _replay(args: argparse.Namespace, embedder: Embedder | OnnxEmbedder) -> None:
    from .replay import format_report, plot_replay, replay

    report = replay(args.workload, args.questions, args.hours, args.seed, args.threshold, embedder)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "curves"}))
    else:
        print(format_report(report))
    if args.plot:
        plot_replay(report, args.plot)
        print(f"wrote {args.plot}")


def _lecture(args: argparse.Namespace, embedder: Embedder | OnnxEmbedder) -> None:
    from .evaluate import lecture_rule, load_pairs

    pairs = load_pairs(args.pairs, args.split)
    r = lecture_rule(pairs, embedder)
    print(
        f"{args.pairs} ({args.split or 'all'}): the lecture's rule (cosine >= 0.95 of the "
        f"questions as typed): precision {r['precision']}  recall {r['recall']}  "
        f"false-hit rate {r['false_hit_rate']}  hits {r['hits']} of {r['n_pairs']} pairs"
    )


if __name__ == "__main__":
    main()
