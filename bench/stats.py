"""Small, dependency-free summary statistics for benchmark samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation; None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return ordered[lo]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(samples: Sequence[float]) -> dict[str, float | int | None]:
    """count, median, p95, min, max and mean of a sample, all None when empty."""
    return {
        "count": len(samples),
        "median": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "min": min(samples) if samples else None,
        "max": max(samples) if samples else None,
        "mean": sum(samples) / len(samples) if samples else None,
    }
