"""Sample-ratio mismatch (SRM): are the arms as large as the randomization said they would be?

A chi-square goodness-of-fit test of the observed unit counts per arm against the planned split.
An SRM means units were lost or added after assignment in a way that depends on the arm (a crash in
one variant, a logging bug, a redirect that drops users), so the arms are no longer comparable and
the readout is invalid whatever its p-value (Fabijan et al. 2019, "Diagnosing sample ratio
mismatch in online controlled experiments", KDD). Industry practice: p < 0.001 blocks the readout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from truelift import _frame
from truelift.engines import lazy_frame
from truelift.errors import DesignError
from truelift.result import Diagnostic, Verdict

__all__ = ["SRM_THRESHOLD", "sample_ratio_mismatch", "srm_check"]

SRM_THRESHOLD = 0.001


def _expected_shares(expected_split: Sequence[float] | None, n_arms: int) -> np.ndarray:
    if expected_split is None:
        return np.full(n_arms, 1.0 / n_arms)
    shares = np.asarray(list(expected_split), dtype=float)
    if shares.size != n_arms or (shares <= 0).any() or not np.isfinite(shares).all():
        raise DesignError(
            f"expected_split must give one positive share per arm ({n_arms} arms, control "
            f"first, then the other arms in sorted order); got {list(expected_split)}."
        )
    return shares / shares.sum()


def srm_check(
    counts: Sequence[int] | np.ndarray,
    labels: Sequence[Any],
    *,
    expected_split: Sequence[float] | None = None,
    unit: str = "units",
    threshold: float = SRM_THRESHOLD,
) -> Diagnostic:
    """Chi-square SRM test of per-arm ``counts`` against ``expected_split`` (equal by default).

    A fail (p < ``threshold``) carries ``consequence="block"``: the readout is withheld.
    """
    obs = np.asarray(counts, dtype=float)
    shares = _expected_shares(expected_split, obs.size)
    expected = shares * obs.sum()
    chi2 = float(((obs - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(chi2, df=obs.size - 1))
    observed_txt = ", ".join(
        f"{lab}: {int(c):,} ({c / obs.sum():.2%} vs {s:.2%} planned)"
        for lab, c, s in zip(labels, obs, shares, strict=True)
    )
    verdict: Verdict
    if p < threshold:
        verdict, message = (
            "fail",
            f"Sample ratio mismatch: the arms' sizes ({observed_txt}) are too far from the planned "
            f"split to be chance (chi-square {chi2:.1f}, p = {p:.2g}). Units were lost or added "
            "after assignment in a way that depends on the arm, so the arms are no longer "
            "comparable and the readout is withheld. Find the cause (assignment or logging bug, "
            "crashes or redirects in one arm, bots) before reading any metric."
            + (
                " If whole clusters (e.g. workspaces) were randomized, pass cluster= so that "
                "clusters, not rows, are counted."
                if unit == "rows"
                else ""
            ),
        )
    else:
        verdict, message = (
            "pass",
            f"Arm sizes match the planned split ({observed_txt}; p = {p:.3g}).",
        )
    return Diagnostic(
        name="sample ratio mismatch",
        verdict=verdict,
        value=p,
        threshold=f"chi-square p >= {threshold:g}",
        message=message,
        consequence="block",
        details={
            "counts": [int(c) for c in obs],
            "labels": [str(lab) for lab in labels],
            "expected_split": shares.tolist(),
            "chi2": chi2,
            "unit": unit,
        },
    )


def sample_ratio_mismatch(
    data: Any,
    *,
    variant: str,
    expected_split: Sequence[float] | None = None,
    control: Any = None,
    missing: _frame.MissingPolicy = "raise",
) -> Diagnostic:
    """SRM check straight from the data: counts the rows per ``variant`` level.

    Arms are ordered control first (see :func:`truelift.experiment.ab_test` for the default
    control), then the other levels in sorted order; ``expected_split`` follows that order.
    On a lazy table (DuckDB, polars lazy, Spark) the counts are one ``GROUP BY`` in the engine.
    """
    from truelift.experiment._engine import lazy_arm_counts
    from truelift.experiment.abtest import arm_order

    lf = lazy_frame(data)
    if lf is not None:
        levels, counts = lazy_arm_counts(lf, variant=variant, missing=missing)
    else:
        cols = _frame.load(data, keys={"variant": variant}, missing=missing, nonconstant=())
        levels = cols.levels["variant"]
        counts = np.bincount(cols["variant"], minlength=levels.size)
    order = arm_order(levels, control)
    return srm_check(counts[order], [levels[i] for i in order], expected_split=expected_split)
