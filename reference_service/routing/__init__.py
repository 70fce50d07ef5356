"""Model routing: send a query to the cheap model or the strong one.

Two routers behind one interface (`score(query) -> float in [0, 1]`, strong when
score >= threshold):
- `LectureRules`: the lecture's `estimate_complexity` (word count and complexity keywords),
  kept as the baseline it is measured against.
- `WeightedRouter`: a handful of cheap text signals (what is asked: define / diagnose /
  design / derive / write code; symptoms; trade-offs; how many technical entities), weighted
  by a logistic regression fitted on the train split of data/routing_queries.jsonl
  (`python -m reference_service.routing train`). Pure Python at run time: ~20 us a query.

Routing knows nothing about Redis or HTTP; conversation stickiness lives in the pipeline.
"""

from __future__ import annotations

import json
import math
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


# The lecture's rule (reconstructed from its description: word count and complexity
# keywords decide; "complex" goes to the strong model).
COMPLEXITY_KEYWORDS = ("analyze", "analyse", "compare", "explain", "design", "optimize",
                       "optimise", "evaluate", "debug", "architecture", "trade-off", "why")


def estimate_complexity(query: str) -> str:
    """The lecture's estimate: 'complex' for long queries or complexity keywords."""
    words = len(query.split())
    if words > 30 or any(kw in query.lower() for kw in COMPLEXITY_KEYWORDS):
        return "complex"
    return "simple"


class LectureRules:
    name = "lecture_rules"

    def score(self, query: str) -> float:
        return 1.0 if estimate_complexity(query) == "complex" else 0.0


class WeightedRouter:
    name = "weighted"

    def __init__(self, weights: dict[str, float]) -> None:
        missing = set(FEATURE_NAMES) - set(weights)
        if missing:
            raise ValueError(f"router weights lack {sorted(missing)}")
        self._w = [weights[n] for n in FEATURE_NAMES]

    def score(self, query: str) -> float:
        z = sum(w * x for w, x in zip(self._w, features(query)))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@lru_cache(maxsize=1)
def default_weights() -> dict[str, float]:
    """The weights shipped with the package (made by `... routing train`)."""
    return json.loads(files(__package__).joinpath("weights.json").read_text())["weights"]


def make_router(name: str) -> Router:
    if name == "weighted":
        return WeightedRouter(default_weights())
    if name == "lecture_rules":
        return LectureRules()
    raise ValueError(f"unknown router {name!r}: use 'weighted' or 'lecture_rules'")
