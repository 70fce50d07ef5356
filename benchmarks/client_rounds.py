"""The set-up the client-side benchmarks share (moderation_client.py, stream_client.py,
request_floors.py, and breaker_ask.py's rounds): the fake LLM in its own process on CPU 1, this process on CPU 0, and
ways of doing the same thing measured in alternating rounds (a busy spell on a shared VM
then hits every way), reported as the median of the rounds."""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from benchmarks.overhead import HOST, start
from mock_llm import free_port

Way = TypeVar("Way")


@contextmanager
def fake_llm() -> Iterator[tuple[int, str]]:
    """(port, base URL) of the fake LLM, answering at once, pinned to CPU 1."""
    os.sched_setaffinity(0, {0})
    port = free_port()
    cmd = [sys.executable, "-m", "mock_llm", "--port", str(port), "--latency", "zero"]
    mock = start(cmd, {}, {1}, f"http://{HOST}:{port}/v1/models")
    try:
        yield port, f"http://{HOST}:{port}/v1"
    finally:
        mock.terminate()
        mock.wait(timeout=10)


def alternating_rounds(
    ways: dict[str, Way], measure: Callable[[Way], float], rounds: int, unit: str
) -> None:
    """`measure` each way once a round, in the order given, for `rounds` rounds; print each
    result, the medians, and, against the first way, the median of the rounds' differences
    (a round measures its ways one after another, so a slow spell of a shared machine weighs
    on them alike; the second way is the first's direct neighbour)."""
    results: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            results[name].append(measure(way))
            print(f"{name}: {results[name][-1]:.4f} ms of CPU per {unit}", flush=True)
    medians = ", ".join(f"{name} {statistics.median(ms):.4f}" for name, ms in results.items())
    print(f"median of {rounds} rounds, ms of CPU per {unit}: {medians}")
    first = next(iter(results.values()))
    for name, ms in list(results.items())[1:]:
        less = statistics.median(a - b for a, b in zip(first, ms, strict=True))
        print(f"  {name}: {less:+.4f} ms of CPU per {unit} less than the first way (median)")
