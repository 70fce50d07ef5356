"""Exercise 2: the lecture's cache benchmark, on an in-memory store and through the service."""

from .bench import (
    QUERIES,
    PairResult,
    Report,
    StaleCache,
    latency_groups,
    plot,
    run_lecture_benchmark,
    run_service_benchmark,
    summarize,
)
from .store import InMemoryRedis

__all__ = [
    "QUERIES",
    "InMemoryRedis",
    "PairResult",
    "Report",
    "StaleCache",
    "latency_groups",
    "plot",
    "run_lecture_benchmark",
    "run_service_benchmark",
    "summarize",
]
