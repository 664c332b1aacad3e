"""Heavy-tailed metrics (cost, latency, tokens): does the conclusion survive winsorization?

The check needs, per arm, the count, sum and sum of squares of the raw metric and of the metric
capped at its pooled 99th percentile, plus the metric's excess kurtosis; :class:`TailStats` holds
them, filled from arrays in memory or from two small queries on an engine, and
:func:`heavy_tail_check` turns them into a diagnostic. Winsorization as a robustness check for
heavy-tailed online metrics: Kohavi, Tang & Xu (2020, ch. 22); Deng, Knoblich & Lu (2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from truelift.result import Diagnostic

__all__ = ["HEAVY_KURTOSIS", "WINSOR_Q", "TailStats", "heavy_tail_check", "kurtosis_from_sums"]

HEAVY_KURTOSIS = 20.0  # excess kurtosis above which a metric counts as heavy-tailed
WINSOR_Q = 0.99  # the pooled quantile the robustness check caps at
KURTOSIS_SAMPLE = 200_000  # in memory, kurtosis on an evenly strided subsample of this size


@dataclass(frozen=True)
class TailStats:
    """Per-arm ``[n, sum, sum of squares]`` of the raw and the capped metric (arms in rows), in
    memory of the metric less its (subsample) mean: the Welch differences and variances drawn from
    them do not change, and the sums of squares do not cancel when the mean is large next to the
    spread."""

    kurtosis: float
    cap: float
    raw: np.ndarray  # (A, 3)
    capped: np.ndarray  # (A, 3)

    def reordered(self, order: list[int]) -> TailStats:
        return TailStats(self.kurtosis, self.cap, self.raw[order], self.capped[order])


def kurtosis_from_sums(n: float, s1: float, s2: float, s3: float, s4: float) -> float:
    """Excess kurtosis from the power sums ``sum y^p`` (p = 1..4)."""
    mu = s1 / n
    m2 = s2 / n - mu * mu
    m4 = s4 / n - 4 * mu * s3 / n + 6 * mu * mu * s2 / n - 3 * mu**4
    return float(m4 / (m2 * m2) - 3) if m2 > 0 else 0.0


def tail_stats(y: np.ndarray, code: np.ndarray, n_arms: int) -> TailStats | None:
    """In-memory :class:`TailStats` of a metric (None for a 0/1 metric or a light tail)."""
    if not ((y != 0) & (y != 1)).any():
        return None
    step = max(1, y.size // KURTOSIS_SAMPLE)  # evenly strided subsample keeps this O(1e5)
    sub = y[::step]
    dev = sub - sub.mean()
    m2 = float(np.mean(dev * dev))
    kurt = float(np.mean(dev**4) / m2**2 - 3) if m2 > 0 else 0.0
    if not kurt > HEAVY_KURTOSIS:
        return None
    cap = float(np.quantile(y, WINSOR_Q))
    capped = np.minimum(y, cap)

    def sums(v: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [np.bincount(code, weights=w, minlength=n_arms) for w in (np.ones_like(v), v, v * v)]
        )

    c0 = float(sub.mean())
    return TailStats(kurt, cap, sums(y - c0), sums(capped - c0))


def _welch(a: np.ndarray, t: int, c: int) -> tuple[float, float]:
    n, s, ss = a[:, 0], a[:, 1], a[:, 2]
    mean = s / n
    var = (ss - s * mean) / (n - 1)
    d = float(mean[t] - mean[c])
    se = float(np.sqrt(var[t] / n[t] + var[c] / n[c]))
    return d, float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else 1.0


def heavy_tail_check(label: str, tail: TailStats, t: int, c: int, alpha: float) -> Diagnostic:
    """Raw vs winsorized difference in means: same sign and same significance at ``alpha``?"""
    out = [_welch(tail.raw, t, c), _welch(tail.capped, t, c)]
    same = (np.sign(out[0][0]) == np.sign(out[1][0])) and (
        (out[0][1] < alpha) == (out[1][1] < alpha)
    )
    kurt = tail.kurtosis
    return Diagnostic(
        name="heavy tails",
        verdict="pass" if same else "warn",
        value=kurt,
        threshold=f"conclusion unchanged after capping at the pooled {WINSOR_Q:.0%} quantile",
        message=(
            f"{label} is heavy-tailed (excess kurtosis {kurt:.0f}). Raw difference "
            f"{out[0][0]:+.4g} (p = {out[0][1]:.3g}); winsorized at the {WINSOR_Q:.0%} quantile "
            f"({tail.cap:.4g}) {out[1][0]:+.4g} (p = {out[1][1]:.3g}). "
            + (
                "The conclusion survives winsorization."
                if same
                else "The conclusion changes when the top 1% is capped: a few extreme users "
                "drive it. Report the winsorized metric (winsorize=0.99) or a longer test."
            )
        ),
        consequence="none",
        details={
            "raw": list(out[0]),
            "winsorized": list(out[1]),
            "quantile": WINSOR_Q,
            "cap": tail.cap,
            "survives": bool(same),
        },
    )
