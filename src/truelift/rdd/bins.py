"""Binned means of the outcome for RD plots (rdplot-style evenly spaced bins).

Calonico, Cattaneo & Titiunik (2015, JASA) choose the number of evenly spaced bins to trade
off bias and variance; truelift uses the IMSE rate J = ceil(n_side^(1/3)) per side (capped at
50), a simple data-driven rule that keeps the scatter readable at any sample size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["side_bins"]


def _side_bins(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> dict[str, list[float]]:
    """Bins of a sorted side: counts by binary search, sums over each bin's run of rows."""
    if x.size == 0 or hi <= lo:
        return {"x": [], "y": [], "n": []}
    j = bin_count(x.size)
    edges = np.linspace(lo, hi, j + 1)
    cuts = np.searchsorted(x, edges[1:-1], side="left")
    bounds = np.r_[0, cuts, x.size]
    n = np.diff(bounds)
    ok = n > 0
    s = np.zeros(j)
    s[ok] = np.add.reduceat(y, bounds[:-1][ok])
    centres = 0.5 * (edges[:-1] + edges[1:])
    return {
        "x": centres[ok].tolist(),
        "y": (s[ok] / n[ok]).tolist(),
        "n": n[ok].astype(float).tolist(),
    }


def side_bins(side: Any, lo: float, hi: float) -> dict[str, list[float]]:
    """Bins of one side of an RD (a ``Side``, rows sorted by x, unscaled) over [lo, hi]."""
    return _side_bins(side.x, side.y, lo, hi)


def bin_count(n_side: int) -> int:
    """Number of evenly spaced bins on a side with n_side observations."""
    return max(1, min(50, math.ceil(n_side ** (1 / 3))))
