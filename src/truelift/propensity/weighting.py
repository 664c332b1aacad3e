"""Inverse probability weighting (Hájek) and augmented IPW (doubly robust).

* ``ipw``: normalised (Hájek) weights for the ATE (1/e, 1/(1-e)), the ATT (1, e/(1-e)) and the
  overlap-weighted ATO (1-e, e; Li, Morgan & Zaslavsky 2018). The standard error stacks the
  weighted-mean estimating equations with the logistic score equations of the propensity model and
  uses the sandwich (M-estimation; Lunceford & Davidian 2004, Stefanski & Boos 2002), so it
  accounts for the estimated propensity rather than treating the weights as known; clustered
  (CR1) when ``cluster`` is given. Trimming follows Crump, Hotz, Imbens & Mitnik (2009).
* ``aipw``: the augmented IPW estimator (Robins, Rotnitzky & Zhao 1994; Bang & Robins 2005), with
  per-arm linear (or logistic) outcome models by default and any scikit-learn estimator accepted;
  optional K-fold cross-fitting (Chernozhukov et al. 2018); influence-function standard error.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.errors import DesignError, IdentificationError
from truelift.inference import if_se, interval
from truelift.propensity._common import (
    Design,
    Score,
    check_scores,
    choice,
    fit_score,
    load_design,
)
from truelift.propensity._logit import auc
from truelift.propensity._outcome import cross_fit
from truelift.propensity.diagnostics import (
    auc_diagnostic,
    balance_diagnostic,
    balance_rows,
    overlap_diagnostic,
    overlap_histogram,
)
from truelift.result import Diagnostic, Estimate
from truelift.sensitivity import e_value_diagnostic

__all__ = ["aipw", "ipw"]

Estimand = Literal["ATE", "ATT", "ATO"]

_WORDS = {
    "ATE": "average treatment effect (ATE) over all units",
    "ATT": "average treatment effect on the treated (ATT)",
    "ATO": "overlap-weighted average treatment effect (ATO; weights e(1-e), Li et al. 2018)",
}


def trim_mask(e: np.ndarray, trim: Any) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Units kept by ``trim`` (None, a float a in (0, 0.5) for [a, 1-a], or a pair (lo, hi))."""
    if trim is None:
        return np.ones(e.size, dtype=bool), None
    if isinstance(trim, (int, float)) and not isinstance(trim, bool):
        lo, hi = float(trim), 1.0 - float(trim)
    elif isinstance(trim, (tuple, list)) and len(trim) == 2:
        lo, hi = float(trim[0]), float(trim[1])
    else:
        raise DesignError(
            f"trim must be None, a float in (0, 0.5) or a pair (lo, hi); got {trim!r}."
        )
    if not 0 <= lo < hi <= 1 or lo >= 0.5 or hi <= 0.5:
        raise DesignError(f"trim bounds must satisfy 0 <= lo < 0.5 < hi <= 1; got ({lo}, {hi}).")
    keep = (e >= lo) & (e <= hi)
    return keep, (lo, hi)


def weights(e: np.ndarray, t: np.ndarray, estimand: str) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised weights ``w`` and ``s`` with d w / d beta = w * s * x for a logistic score."""
    tr = t > 0
    if estimand == "ATE":
        return np.where(tr, 1.0 / e, 1.0 / (1.0 - e)), np.where(tr, e - 1.0, e)
    if estimand == "ATT":
        return np.where(tr, 1.0, e / (1.0 - e)), 1.0 - t
    return np.where(tr, 1.0 - e, e), np.where(tr, -e, 1.0 - e)


def _outcome_of(design: Design) -> np.ndarray:
    if design.y is None:
        raise DesignError("an outcome column is required.")
    return design.y


def ipw_kernel(
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    w: np.ndarray,
    s: np.ndarray,
    X: np.ndarray,
    hessian: np.ndarray | None,
) -> tuple[float, np.ndarray, float, float]:
    """Hájek contrast and its influence function (stacked with the logistic score if given)."""
    n = t.size
    tr = t > 0
    w1 = w * t
    sw1 = float(w1.sum())
    sw0 = float(w.sum()) - sw1
    mu1 = float(w1 @ y) / sw1
    mu0 = float(w @ y - w1 @ y) / sw0
    # psi = w1 (y - mu1) / mean(w1) - w0 (y - mu0) / mean(w0)
    psi = w * (y - np.where(tr, mu1, mu0)) * np.where(tr, n / sw1, -n / sw0)
    if hessian is not None:
        # A_{mu,beta} / (-A_{mu,mu}) for both arms, combined; then IF_beta = n H^{-1} x (t - e)
        v = psi * s
        grad = np.concatenate(([v.sum()], v @ X)) / n
        c = np.linalg.solve(hessian, grad) * n
        psi += (t - e) * (c[0] + X @ c[1:])
    return mu1 - mu0, psi, mu1, mu0


def _details(
    score: Score, design: Design, w: np.ndarray, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "overlap_hist": overlap_histogram(score.e, design.t),
        "balance": rows,
        "propensity": {
            "auc": score.auc,
            "min": float(score.e.min()),
            "max": float(score.e.max()),
            "model": score.model,
            "coef": (
                dict(zip(("intercept", *design.X_names), map(float, score.coef), strict=True))
                if score.coef is not None
                else None
            ),
        },
    }


def _diagnostics(
    score: Score, design: Design, w: np.ndarray, keep: np.ndarray, estimand: str, how: str
) -> tuple[tuple[Diagnostic, ...], list[dict[str, Any]]]:
    B, names = design.balance_matrix()
    if keep.all():
        rows = balance_rows(B, names, design.t, w)
        overlap = overlap_diagnostic(score.e, design.t, w, estimand)
    else:
        rows = balance_rows(B[keep], names, design.t[keep], w[keep])
        overlap = overlap_diagnostic(score.e[keep], design.t[keep], w[keep], estimand)
    diags = (
        overlap,
        balance_diagnostic(rows, how),
        auc_diagnostic(score.auc),
    )
    return diags, rows


def ipw(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Any,
    estimand: Estimand = "ATE",
    trim: float | tuple[float, float] | None = None,
    cluster: str | None = None,
    model: Any = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Inverse-probability-weighted effect of ``treatment`` on ``outcome`` (Hájek weights).

    Args:
        estimand: ``"ATE"``, ``"ATT"`` or ``"ATO"`` (overlap weights).
        trim: drop units with propensity outside ``[trim, 1 - trim]`` (or ``(lo, hi)``); the
            estimand becomes the effect on the kept units.
        cluster: column of cluster labels for cluster-robust (CR1) standard errors.
        model: ``None`` for the unpenalized logistic MLE (SE accounts for its estimation), or a
            scikit-learn classifier (SE then treats its scores as known; the result says so).
    """
    choice("estimand", estimand, ("ATE", "ATT", "ATO"))
    design = load_design(
        data,
        treatment=treatment,
        outcome=outcome,
        covariates=covariates,
        cluster=cluster,
        missing=missing,
    )
    score = fit_score(design, model)
    keep, bounds = trim_mask(score.e, trim)
    w, s = weights(score.e, design.t, estimand)
    w = w * keep
    t, y = design.t, _outcome_of(design)
    if t[keep].min() == t[keep].max():
        raise IdentificationError(f"After trimming to {bounds} only one arm remains; loosen trim.")
    est, psi, mu1, mu0 = ipw_kernel(t, y, score.e, w, s, design.X, score.hessian)
    inference = (
        "sandwich (stacked estimating equations incl. the logistic propensity score)"
        if score.hessian is not None
        else "influence function treating the propensity scores as known (conservative for the ATE)"
    )
    return _assemble(
        design,
        score,
        (est, psi, w, keep, bounds),
        estimand=estimand,
        conf_level=conf_level,
        method=f"IPW (Hájek), {estimand} weights",
        inference=inference,
        params={
            "estimator": "ipw",
            "treatment": treatment,
            "outcome": outcome,
            "cluster": cluster,
            "model": score.model,
            "mean_treated": mu1,
            "mean_control": mu0,
        },
    )


def _assemble(
    design: Design,
    score: Score,
    fit: tuple[float, np.ndarray, np.ndarray, np.ndarray, tuple[float, float] | None],
    *,
    estimand: str,
    conf_level: float,
    method: str,
    inference: str,
    params: dict[str, Any],
) -> Estimate:
    """SE, interval, diagnostics and the result record shared by ipw() and aipw()."""
    est, psi, w, keep, bounds = fit
    cluster = design.cluster
    if cluster is not None and psi.size != cluster.size:
        cluster = cluster[keep]
    se = if_se(psi, cluster)
    lo, hi, p = interval(est, se, conf_level)
    diags, rows = _diagnostics(score, design, w, keep, estimand, f"{estimand} weighting")
    where = (
        "" if bounds is None else f", on units with propensity in [{bounds[0]:g}, {bounds[1]:g}]"
    )
    result = Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=design.n_obs,
        n_dropped=design.n_dropped,
        estimand=f"{_WORDS[estimand]} of {params['treatment']} on {params['outcome']}{where}",
        method=method,
        params={
            "design": "propensity",
            **params,
            "covariates": list(design.covariates),
            "estimand": estimand,
            "trim": list(bounds) if bounds else None,
            "n_trimmed": int((~keep).sum()),
            "n_treated": int(design.t.sum()),
        },
        diagnostics=diags,
        inference=inference
        + (", cluster-robust (CR1)" if design.cluster is not None else "")
        + ", normal interval",
        details=_details(score, design, w, rows),
    )
    return replace(result, diagnostics=(*diags, _e_value(result, design, w)))


def _e_value(result: Estimate, design: Design, w: np.ndarray) -> Diagnostic:
    """E-value of the estimate and its interval, in words (VanderWeele & Ding 2017)."""
    y, t = _outcome_of(design), design.t
    w0 = w * (1 - t)
    base = float(w0 @ y / w0.sum())
    if np.isin(y, (0.0, 1.0)).all() and 0 < base < 1:
        return e_value_diagnostic(result, baseline=base)
    return e_value_diagnostic(result, sd=float(y.std()) or 1.0)


def _rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def aipw_kernel(
    t: np.ndarray, y: np.ndarray, e: np.ndarray, m1: np.ndarray, m0: np.ndarray, estimand: str
) -> tuple[float, np.ndarray]:
    """Doubly robust ATE or ATT and its influence function."""
    if estimand == "ATE":
        phi = m1 - m0 + t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e)
        est = float(phi.mean())
        return est, phi - est
    p1 = t.mean()
    r = t * (y - m0) - (1 - t) * e / (1 - e) * (y - m0)
    est = float(r.sum() / t.sum())
    return est, (r - t * est) / p1


def aipw(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Any,
    estimand: Literal["ATE", "ATT"] = "ATE",
    outcome_model: Any = None,
    propensity_model: Any = None,
    folds: int | None = None,
    rng: int | np.random.Generator | None = None,
    trim: float | tuple[float, float] | None = None,
    cluster: str | None = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Augmented IPW (doubly robust) effect of ``treatment`` on ``outcome``.

    Args:
        estimand: ``"ATE"`` or ``"ATT"``.
        outcome_model: ``None``/``"linear"`` (per-arm OLS), ``"logistic"`` (per-arm logistic, binary
            outcome) or any scikit-learn regressor (fitted separately in each arm).
        propensity_model: ``None`` (unpenalized logistic) or a scikit-learn classifier.
        folds: ``None`` fits the nuisance models in-sample; an integer K >= 2 cross-fits them
            over K random folds drawn with ``rng``.
        trim: drop units with propensity outside ``[trim, 1 - trim]`` (or ``(lo, hi)``).
        cluster: column of cluster labels for cluster-robust (CR1) standard errors.
    """
    choice("estimand", estimand, ("ATE", "ATT"))
    design = load_design(
        data,
        treatment=treatment,
        outcome=outcome,
        covariates=covariates,
        cluster=cluster,
        missing=missing,
    )
    t, y, X = design.t, _outcome_of(design), design.X
    e, m1, m0 = cross_fit(
        X,
        t,
        y,
        outcome_model=outcome_model,
        propensity_model=propensity_model,
        folds=folds,
        rng=_rng(rng),
    )
    check_scores(e)
    keep, bounds = trim_mask(e, trim)
    if t[keep].min() == t[keep].max():
        raise IdentificationError(f"After trimming to {bounds} only one arm remains; loosen trim.")
    est, psi = aipw_kernel(t[keep], y[keep], e[keep], m1[keep], m0[keep], estimand)
    score = Score(
        e, None, None, auc(e, t), None, str(propensity_model or "logistic (unpenalized MLE)")
    )
    om = outcome_model if isinstance(outcome_model, str) else type(outcome_model).__name__
    return _assemble(
        design,
        score,
        (est, psi, weights(e, t, estimand)[0] * keep, keep, bounds),
        estimand=estimand,
        conf_level=conf_level,
        method="AIPW (doubly robust)" + (f", {folds}-fold cross-fitting" if folds else ""),
        inference="influence function",
        params={
            "estimator": "aipw",
            "treatment": treatment,
            "outcome": outcome,
            "cluster": cluster,
            "outcome_model": "linear" if outcome_model is None else om,
            "propensity_model": score.model,
            "folds": folds,
        },
    )
