"""The learned verifier: a logistic regression over features.py's numbers, trained by
`python -m reference_service.cache train` (train.py) into verifier_model.json (a few
hundred bytes: feature names, scaling, weights, the operating point and how it was chosen).

A candidate that passes the exact rules is served when the model's probability that the
two questions ask the same thing is at least the operating point. The file is read on
first use, not at import.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from .features import FEATURES, pair_features

MODEL_FILE = "verifier_model.json"


@dataclass(frozen=True)
class VerifierModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float  # probability at or above which a candidate is served
    candidate_floor: float  # lowest cosine worth asking the model about

    @classmethod
    def from_dict(cls, d: dict) -> "VerifierModel":
        if tuple(d["features"]) != tuple(FEATURES):
            raise ValueError(f"model features {d['features']} are not {FEATURES}: retrain")
        return cls(tuple(d["features"]), tuple(d["mean"]), tuple(d["scale"]),
                   tuple(d["coef"]), float(d["intercept"]), float(d["threshold"]),
                   float(d["candidate_floor"]))

    def probability(self, query: str, cached: str, cosine: float) -> float:
        """P(the answer cached for `cached` answers `query`), both in question form."""
        x = pair_features(query, cached, cosine)
        z = self.intercept + sum(c * (v - m) / s for c, v, m, s in
                                 zip(self.coef, x, self.mean, self.scale))
        return 1.0 / (1.0 + math.exp(-z))


@lru_cache(maxsize=1)
def default_model() -> VerifierModel:
    """The shipped model (reference_service/cache/verifier_model.json)."""
    return VerifierModel.from_dict(json.loads(files(__package__).joinpath(MODEL_FILE).read_text()))
