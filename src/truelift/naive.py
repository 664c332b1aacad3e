"""The naive comparison: difference in mean outcome between users with and without a feature.

This is the dashboard number ("users with agent mode complete 21 pp more tasks"). It is a causal
effect only when the feature was randomly assigned; otherwise it mixes the effect with selection.
It exists so reports can show the trap beside the design-based estimate. It accepts lazy
tables (DuckDB, polars lazy, Spark): then only per-arm moments leave the engine. Inference: Welch
(unequal-variance) standard error from the influence function of the difference in means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from truelift import _frame
from truelift.engines import engine_name, lazy_frame
from truelift.engines.moments import ArmMoments, arm_moments, arm_moments_arrays
from truelift.errors import DataError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate

__all__ = ["naive_difference"]


def _difference_from_moments(mom: ArmMoments) -> tuple[float, float, tuple[float, float]]:
    """Difference in means and its Welch (plug-in) SE from per-arm moments.

    Equals the influence-function SE of the difference in means:
    psi = t (y - m1) / p1 - (1 - t)(y - m0) / (1 - p1), so Var = v1 / n1 + v0 / n0.
    """
    means = mom.s / mom.n
    var = mom.m2 / mom.n
    se = float(np.sqrt(np.sum(var / mom.n)))
    return float(means[1] - means[0]), se, (float(means[0]), float(means[1]))


def naive_difference(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Difference in mean ``outcome`` between ``treatment == 1`` and ``treatment == 0`` rows.

    Not a causal estimate unless treatment was randomized; the result carries a ``warn``
    diagnostic that says so.
    """
    lf = lazy_frame(data)
    if lf is not None:  # aggregate inside the engine: only per-arm moments leave it
        mom = arm_moments(lf, treatment=treatment, outcome=outcome, missing=missing)
        engine = engine_name(lf)
    else:
        cols = _frame.load(
            data, binary={"treatment": treatment}, numeric={"outcome": outcome}, missing=missing
        )
        mom = arm_moments_arrays(cols["treatment"], cols["outcome"])
        mom = ArmMoments(mom.n, mom.s, mom.m2, cols.n_dropped)
        engine = "numpy"
    if np.ptp(mom.s / mom.n) == 0 and np.all(mom.m2 <= 0):
        raise DataError(
            f"Outcome column {outcome!r} is constant; there is no variation to compare."
        )
    est, se, (m0, m1) = _difference_from_moments(mom)
    n = int(mom.n.sum())
    lo, hi, p = interval(est, se, conf_level)
    diag = Diagnostic(
        name="selection",
        verdict="warn",
        value=None,
        threshold="treatment randomly assigned",
        message=(
            "A raw comparison of users with and without the feature is causal only if the "
            "feature was randomized; use recommend() to pick a design for how it was rolled out."
        ),
        consequence="none",
    )
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=n,
        n_dropped=mom.n_dropped,
        estimand=f"difference in mean {outcome} between {treatment} = 1 and 0 (not causal)",
        method="naive difference in means",
        params={"design": "naive", "treatment": treatment, "outcome": outcome, "engine": engine},
        diagnostics=(diag,),
        inference="Welch standard error (influence function), normal interval",
        details={
            "means": {"treated": m1, "control": m0},
            "n": {"treated": int(mom.n[1]), "control": int(mom.n[0])},
            "transferred": "per-arm count, sum and sum of squares (2 rows)",
        },
    )
