"""Small statistics the engine and its benchmarks share."""

from __future__ import annotations


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile `q` (0..1) of an ascending list; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)
