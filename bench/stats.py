"""Percentiles and formatting for the benchmark tables."""

from __future__ import annotations

import math


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def ratio(ours: float | None, peer: float | None) -> str:
    """How many times better (lower) ours is than the peer's."""
    if ours is None or peer is None or ours <= 0:
        return "n/a"
    return f"{peer / ours:.1f}x"
