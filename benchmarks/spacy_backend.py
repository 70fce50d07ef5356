"""CPU of one Presidio pass in the context the service runs it in: a copy of the request's
context (`asyncio.to_thread`; here each pass runs on the main thread in a fresh
`contextvars.Context()`, which is what matters), where thinc (spaCy's backend library) has
no current backend, with and without `recognizers.use_analyzer_ops()` setting one first.

    .venv/bin/python benchmarks/spacy_backend.py [--texts 300] [--rounds 5]

Each pass runs in a fresh `contextvars.Context()`, as each request's pass does. Without a
backend in the context, thinc looks it up again (through the installed packages' entry
points) in the first parser or ner call of every pass. The texts are the overhead
benchmark's misses and semantic-hit wordings (request_floors.texts); rounds alternate the two
ways (client_rounds.alternating_rounds); the median of the rounds is reported (docs/BENCHMARKS.md, "spaCy's backend").
"""

from __future__ import annotations

import argparse
import contextvars
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.client_rounds import alternating_rounds
from benchmarks.request_floors import texts
from reference_service.safety.recognizers import ENTITIES, shared_analyzer, use_analyzer_ops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    analyzer = shared_analyzer()
    entities = list(ENTITIES)
    ts = texts(args.texts)

    def before(t: str) -> None:
        analyzer.analyze(t, language="en", entities=entities, score_threshold=0.4)

    def after(t: str) -> None:
        use_analyzer_ops()
        before(t)

    def cpu_per_pass(way: Callable[[str], None]) -> float:
        """ms of CPU per pass, each pass in a fresh context."""
        cpu = time.process_time()
        for t in ts:
            contextvars.Context().run(way, t)
        return (time.process_time() - cpu) / len(ts) * 1000

    for t in ts[:20]:  # warm
        contextvars.Context().run(after, t)
    ways = {"no backend in the context (before)": before, "use_analyzer_ops() first (now)": after}
    alternating_rounds(ways, cpu_per_pass, args.rounds, "pass")


if __name__ == "__main__":
    main()
