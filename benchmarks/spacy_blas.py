"""spaCy's layers on blis's matrix product (thinc's default) or numpy's on one BLAS thread
(the service's, `recognizers.matmul_on_numpy`): the same results, and the CPU of a Presidio
pass each way, and with numpy on as many BLAS threads as OpenBLAS starts.

    .venv/bin/python benchmarks/spacy_blas.py [--texts 2000] [--rounds 5]

Not pinned: OpenBLAS sizes its thread pool from the CPUs the process may use when numpy
loads, and a deployment's worker is not pinned. CPU is the process's (all its threads).
The texts (the overhead benchmark's misses and semantic-hit wordings, data/pii_cases.jsonl,
QQP dev questions up to --texts) go through the analyzer each way: how many texts get
different Presidio findings (type, start, end, score) or a different spaCy document
(entities, tags, dependency heads, dependency labels, lemmas) than with blis; the check can
fail, and the script exits with 1 if any text differs. Then the CPU per pass, rounds
alternating the ways (client_rounds.alternating_rounds; blis and the service's way back to
back, each after a 1 s pause so OpenBLAS's spinning threads are asleep) over the overhead
benchmark's texts, and how much of it the layers' products took (`Ops.gemm`, timed call by
call; the transition loop of the parser and ner multiplies through thinc's cblas table,
blis either way, and is not in that column).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

import statistics

from thinc.api import NumpyOps
from threadpoolctl import threadpool_info, threadpool_limits

from benchmarks.client_rounds import alternating_rounds
from benchmarks.pii_parser import load_texts
from benchmarks.request_floors import texts as overhead_texts
from reference_service.safety.recognizers import ENTITIES, set_models_ops, shared_analyzer


def set_way(nlp, way) -> None:
    ops, blas_threads = way
    threadpool_limits(limits=blas_threads, user_api="blas")
    set_models_ops(nlp, ops)


class TimedOps(NumpyOps):
    """thinc's CPU backend, counting the CPU its layers' matrix products take."""

    def __init__(self, use_blis: bool) -> None:
        super().__init__(use_blis=use_blis)
        self.spent = 0.0
        self.per_pass: list[float] = []  # ms in the products per pass, one entry a round

    def gemm(self, *args, **kwargs):
        cpu = time.process_time()
        out = super().gemm(*args, **kwargs)
        self.spent += time.process_time() - cpu
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    analyzer = shared_analyzer()  # built as the service builds it
    nlp = analyzer.nlp_engine.nlp["en"]  # type: ignore[attr-defined]
    ways = {
        "blis (thinc's default)": (TimedOps(use_blis=True), 1),
        "numpy, 1 BLAS thread (the service)": (TimedOps(use_blis=False), 1),
        f"numpy, {started} BLAS threads": (TimedOps(use_blis=False), started),
    }
    entities = list(ENTITIES)

    def results(text: str) -> tuple:
        found = analyzer.analyze(text, language="en", entities=entities, score_threshold=0.4)
        doc = nlp(text)
        return (
            sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in found),
            [(e.start_char, e.end_char, e.label_) for e in doc.ents],
            [(t.tag_, t.head.i, t.dep_, t.lemma_) for t in doc],
        )

    checked = overhead_texts(300) + load_texts(args.texts)
    outputs = {}
    for name, way in ways.items():
        set_way(nlp, way)
        outputs[name] = [results(t) for t in checked]
    blis, *others = outputs.values()
    n_found = sum(len(r[0]) for r in blis)
    differing = 0
    for name, other in zip(list(outputs)[1:], others, strict=True):
        n = sum(a != b for a, b in zip(blis, other, strict=True))
        print(f"{len(checked)} texts ({n_found} findings with blis): {n} differ with {name}")
        differing += n

    timed = overhead_texts(300)

    def cpu_per_pass(way) -> float:
        set_way(nlp, way)
        time.sleep(1)  # OpenBLAS's threads spin for a while after their last product
        ops = way[0]
        ops.spent = 0.0
        cpu = time.process_time()
        for t in timed:
            analyzer.analyze(t, language="en", entities=entities, score_threshold=0.4)
        ops.per_pass.append(ops.spent / len(timed) * 1000)
        return (time.process_time() - cpu) / len(timed) * 1000

    alternating_rounds(ways, cpu_per_pass, args.rounds, "pass")
    for name, (ops, _) in ways.items():
        ms = statistics.median(ops.per_pass)
        print(f"{name}: {ms:.4f} ms of CPU per pass in matrix products (median)")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
