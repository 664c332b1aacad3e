"""Assumption checks for synthetic controls, each with a verdict and a consequence.

* Pre-period fit (Abadie, Diamond & Hainmueller 2010, 2015: "the synthetic control should not be
  used when the pre-treatment fit is poor"): the pre-period RMSPE relative to the outcome's scale,
  the standard deviation of the donors' pre-period outcomes over units and periods.
* Convex hull (Abadie 2021, JEL, section 7; Ferman & Pinto 2021): plain SC can only reproduce a
  treated path that lies inside the donors' range. If the treated unit's pre-period level is above
  every donor's (or below), no simplex weights can reach it, the fit absorbs the gap with noise and
  the estimate is biased; intercept-shifted methods (``demeaned``, ``sdid``) do not need it.
* Weight concentration: the effective number of donors ``1 / sum(w^2)`` and the largest weight; a
  synthetic unit resting on one donor is as fragile as that donor.
"""

from __future__ import annotations

import numpy as np

from truelift.result import Diagnostic, Verdict
from truelift.synth._fit import Fit, Method

__all__ = ["concentration", "convex_hull", "pre_fit"]

FIT_PASS, FIT_FAIL = 0.10, 0.25


def pre_fit(fit: Fit, Y0: np.ndarray, method: Method = "sc") -> Diagnostic:
    """Pre-period RMSPE / sd of the donors' pre-period outcomes (pass <= 0.10, fail > 0.25)."""
    scale = float(np.std(Y0[:, : fit.T0], ddof=1))
    value = fit.pre_rmspe / scale if scale > 0 else float("inf")
    verdict: Verdict = "pass" if value <= FIT_PASS else ("warn" if value <= FIT_FAIL else "fail")
    msg = (
        f"pre-period RMSPE {fit.pre_rmspe:.4g} is {value:.1%} of the outcome's spread "
        f"(sd {scale:.4g})."
    )
    if verdict != "pass":
        other = " or ".join(f"method={m!r}" for m in ("demeaned", "sdid") if m != method)
        msg += (
            " The synthetic unit does not track the treated unit before launch, so its post-launch "
            f"path is a weak counterfactual; try {other}, more pre-periods, or a donor pool of "
            "more similar units."
        )
    return Diagnostic(
        name="pre-period fit",
        verdict=verdict,
        value=value,
        threshold=f"RMSPE / outcome sd <= {FIT_PASS} (pass), <= {FIT_FAIL} (warn)",
        message=msg,
        consequence="downgrade",
        details={"pre_rmspe": fit.pre_rmspe, "outcome_sd": scale},
    )


def convex_hull(method: Method, Y0: np.ndarray, y1: np.ndarray, T0: int) -> Diagnostic:
    """Is the treated pre-period level inside the donors' range (levels, or dynamics if demeaned)?"""
    pre0, pre1 = Y0[:, :T0], y1[:T0]
    levels = pre0.mean(axis=1)
    above = float(np.mean(levels >= pre1.mean()))
    below = float(np.mean(levels <= pre1.mean()))
    out_share = float(np.mean((pre1 > pre0.max(axis=0)) | (pre1 < pre0.min(axis=0))))
    side = "above" if above == 0 else ("below" if below == 0 else "")
    details = {
        "treated_pre_mean": float(pre1.mean()),
        "donor_pre_mean_min": float(levels.min()),
        "donor_pre_mean_max": float(levels.max()),
        "share_periods_outside": out_share,
    }
    value = min(above, below)
    if method in ("demeaned", "sdid"):
        return Diagnostic(
            name="convex hull",
            verdict="pass",
            value=value,
            threshold="not required: the method matches levels with an intercept",
            message=(
                f"{method} removes level differences, so the treated unit need not lie inside "
                f"the donors' range (it lies {side or 'inside'} it)."
            ),
            consequence="none",
            details=details,
        )
    outside = bool(side) or out_share > 0.5
    verdict: Verdict
    if not outside:
        verdict, msg = "pass", "the treated pre-period level lies inside the donors' range."
    else:
        where = side or "outside the range of"
        verdict = "fail" if method == "sc" else "warn"
        msg = (
            f"the treated unit's pre-period level ({pre1.mean():.4g}) lies {where} every donor "
            f"(donor pre-period means {levels.min():.4g} to {levels.max():.4g}); no weights on "
            "the simplex can reach it, so plain SC is biased. Use method='demeaned' or 'sdid', "
            "which match the path up to a level shift."
        )
        if method == "augmented":
            msg += " The ridge augmentation extrapolates past the hull; read it with care."
    return Diagnostic(
        name="convex hull",
        verdict=verdict,
        value=value,
        threshold="treated pre-period mean inside the donors' pre-period means",
        message=msg,
        consequence="block" if method == "sc" else "none",
        details=details,
    )


def concentration(weights: np.ndarray, labels: np.ndarray) -> Diagnostic:
    """Effective number of donors; warn when one donor carries more than 80 % of the weight."""
    w = np.clip(weights, 0.0, None)
    w = w / w.sum() if w.sum() > 0 else w
    n_eff = 1.0 / float(np.sum(w**2)) if np.any(w > 0) else 0.0
    top = int(np.argmax(w))
    verdict: Verdict = "warn" if w[top] > 0.8 else "pass"
    msg = f"effective number of donors {n_eff:.2f}; largest weight {w[top]:.3f} ({labels[top]})."
    if verdict == "warn":
        msg += " The counterfactual rests mostly on one donor; check it had no shock of its own."
    return Diagnostic(
        name="weight concentration",
        verdict=verdict,
        value=n_eff,
        threshold="largest donor weight <= 0.8",
        message=msg,
        consequence="none",
        details={"max_weight": float(w[top]), "top_donor": str(labels[top])},
    )
