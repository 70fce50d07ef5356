"""Model routing: send a query to the cheap model or the strong one.

Two routers behind one interface (`score(query) -> float in [0, 1]`, strong when
score >= threshold):
- `LectureRouter`: the lecture's `estimate_complexity` exactly (5 words or fewer: simple;
  any of its ten keyword patterns: complex; over 50 words: complex), the baseline the
  weighted router is measured against, and `ROUTER=lecture`.
- `WeightedRouter`: a handful of cheap text signals (what is asked: define / diagnose /
  design / derive / write code; symptoms; trade-offs; how many technical entities), weighted
  by a logistic regression fitted on the train split of data/routing_queries.jsonl
  (`python -m reference_service.routing train`). Pure Python at run time: ~20 us a query.

Routing knows nothing about Redis or HTTP; conversation stickiness lives in the pipeline.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Protocol

from .features import FEATURE_NAMES, features


class Router(Protocol):
    name: str

    def score(self, query: str) -> float: ...


@dataclass(frozen=True)
class RouteDecision:
    model: str
    reason: str  # "pinned" | "routed" | "sticky"
    router: str | None = None
    score: float | None = None
    fallback_from: str | None = None  # the chosen model, when its breaker was open


# The lecture's rule (its section 4), reproduced exactly: at most 5 words is simple; else
# any of these ten signals (searched in the lower-cased text) is complex; else more than
# 50 words is complex; else simple.
COMPLEXITY_SIGNALS = (
    r"\bcompare\b",
    r"\bdifference\b",
    r"\bwhy\b",
    r"\bexplain\b",
    r"\banalyze\b",
    r"\bimplement\b",
    r"\bdesign\b",
    r"\barchitecture\b",
    r"\btradeoff\b",
    r"\bpros and cons\b",
)
_SIGNALS = tuple(re.compile(p) for p in COMPLEXITY_SIGNALS)


def estimate_complexity(message: str) -> str:
    """The lecture's estimate: 'simple' or 'complex'. Words are whitespace-separated."""
    words = len(message.split())
    if words <= 5:
        return "simple"
    lowered = message.lower()
    if any(p.search(lowered) for p in _SIGNALS):
        return "complex"
    return "complex" if words > 50 else "simple"


class LectureRouter:
    """The lecture's select_model as a router: complex -> strong model (score 1)."""

    name = "lecture"

    def score(self, query: str) -> float:
        return 1.0 if estimate_complexity(query) == "complex" else 0.0


class NoRouter:
    """ROUTING_ENABLED=false: every call that asks for routing gets the cheap model."""

    name = "off"

    def score(self, query: str) -> float:
        return 0.0


class WeightedRouter:
    name = "weighted"

    def __init__(self, weights: dict[str, float]) -> None:
        missing = set(FEATURE_NAMES) - set(weights)
        if missing:
            raise ValueError(f"router weights lack {sorted(missing)}")
        self._w = [weights[n] for n in FEATURE_NAMES]

    def score(self, query: str) -> float:
        z = sum(w * x for w, x in zip(self._w, features(query), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@lru_cache(maxsize=1)
def default_weights() -> dict[str, float]:
    """The weights shipped with the package (made by `... routing train`)."""
    weights: dict[str, float] = json.loads(files(__package__).joinpath("weights.json").read_text())[
        "weights"
    ]
    return weights


def make_router(name: str) -> Router:
    if name == "weighted":
        return WeightedRouter(default_weights())
    if name == "lecture":
        return LectureRouter()
    raise ValueError(f"unknown router {name!r}: use 'weighted' or 'lecture'")
