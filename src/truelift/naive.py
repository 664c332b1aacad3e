"""The naive comparison: difference in mean outcome between users with and without a feature.

This is the dashboard number ("users with agent mode complete 21 pp more tasks"). It is a causal
effect only when the feature was randomly assigned; otherwise it mixes the effect with selection.
It exists so reports can show the trap beside the design-based estimate. Inference: Welch
(unequal-variance) standard error from the influence function of the difference in means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from truelift import _frame
from truelift.inference import if_se, interval
from truelift.result import Diagnostic, Estimate

__all__ = ["naive_difference"]


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
    cols = _frame.load(
        data, binary={"treatment": treatment}, numeric={"outcome": outcome}, missing=missing
    )
    t, y = cols["treatment"], cols["outcome"]
    n = cols.n_obs
    p1 = t.mean()
    m1, m0 = y[t == 1].mean(), y[t == 0].mean()
    est = float(m1 - m0)
    psi = t * (y - m1) / p1 - (1 - t) * (y - m0) / (1 - p1)
    se = if_se(psi)
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
        n_dropped=cols.n_dropped,
        estimand=f"difference in mean {outcome} between {treatment} = 1 and 0 (not causal)",
        method="naive difference in means",
        params={
            "design": "naive",
            "treatment": treatment,
            "outcome": outcome,
            "n_treated": int(t.sum()),
            "mean_treated": float(m1),
            "mean_control": float(m0),
        },
        diagnostics=(diag,),
        inference="Welch standard error (influence function), normal interval",
        details={
            "means": {"treated": float(m1), "control": float(m0)},
            "n": {"treated": int(t.sum()), "control": int(n - t.sum())},
            "sd": {"treated": float(np.std(y[t == 1])), "control": float(np.std(y[t == 0]))},
        },
    )
