"""The one percentile helper of the benchmarks, so that "p50" and "p99" mean the same in
every table of docs/BENCHMARKS.md: numpy's percentile with its default method (linear
interpolation between the two nearest samples; p50 is the median)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def percentile(values: Iterable[float], p: float) -> float:
    """The `p`-th percentile (0-100) of `values`; nan when there are none."""
    data = np.fromiter(values, dtype=float)
    if data.size == 0:
        return float("nan")
    return float(np.percentile(data, p))
