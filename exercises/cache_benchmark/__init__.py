# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.
"""Exercise 2: benchmark the service's cache: miss vs hit latency, hit rate, speedup."""

from .bench import QUERIES, PairResult, Report, plot, run_benchmark, summarize

__all__ = ["QUERIES", "PairResult", "Report", "plot", "run_benchmark", "summarize"]
