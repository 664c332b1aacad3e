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

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift._parallel import map_ranges
from truelift.engines import engine_name, lazy_frame
from truelift.errors import DesignError, IdentificationError
from truelift.inference import interval
from truelift.propensity._common import (
    Design,
    check_scores,
    choice,
    covariate_list,
    fit_score,
    load_design,
)
from truelift.propensity._fused import fill_weights, fused_facts, fused_ipw
from truelift.propensity._kernel import ArrayFeed, Facts, IpwFeed, Run, aipw_flow, ipw_flow
from truelift.propensity._logit import auc
from truelift.propensity._outcome import cross_fit
from truelift.propensity.diagnostics import (
    auc_diagnostic,
    balance_diagnostic,
    balance_rows,
    overlap_facts_of,
    overlap_histogram,
    overlap_verdict,
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


def trim_bounds(trim: Any) -> tuple[float, float] | None:
    """Validated trimming bounds: None, a float a in (0, 0.5) for [a, 1-a], or a pair (lo, hi)."""
    if trim is None:
        return None
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
    return lo, hi


def trim_mask(e: np.ndarray, trim: Any) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Units kept by ``trim`` (None, a float a in (0, 0.5) for [a, 1-a], or a pair (lo, hi))."""
    bounds = trim_bounds(trim)
    if bounds is None:
        return np.ones(e.size, dtype=bool), None
    return (e >= bounds[0]) & (e <= bounds[1]), bounds


def weights(e: np.ndarray, t: np.ndarray, estimand: str) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised weights ``w`` and ``s`` with d w / d beta = w * s * x for a logistic score."""
    w, s = np.empty(e.size), np.empty(e.size)

    def fill(lo: int, hi: int) -> None:
        fill_weights(e[lo:hi], t[lo:hi], w[lo:hi], s[lo:hi], estimand)

    map_ranges(fill, e.size)
    return w, s


def _outcome_of(design: Design) -> np.ndarray:
    if design.y is None:
        raise DesignError("an outcome column is required.")
    return design.y


def _array_facts(
    design: Design, e: np.ndarray, w: np.ndarray, keep: np.ndarray, auc_value: float
) -> Facts:
    """The diagnostics' inputs from in-memory arrays (``w`` already multiplied by ``keep``)."""
    t, y = design.t, _outcome_of(design)
    B, names = design.balance_matrix()
    if keep.all():
        rows = balance_rows(B, names, t, w)
        overlap = overlap_facts_of(e, t, w)
    else:
        rows = balance_rows(B[keep], names, t[keep], w[keep])
        overlap = overlap_facts_of(e[keep], t[keep], w[keep])
    w0 = w * (1 - t)
    return Facts(
        balance=rows,
        overlap=overlap,
        hist=overlap_histogram(e, t),
        e_range=(float(e.min()), float(e.max())),
        auc=auc_value,
        y_binary=bool(np.isin(y, (0.0, 1.0)).all()),
        y_sd=float(y.std()),
        n_treated=int(t.sum()),
        base=float(w0 @ y / w0.sum()),
    )


def _coef(design: Design, coef: np.ndarray | None) -> dict[str, float] | None:
    if coef is None:
        return None
    return dict(zip(("intercept", *design.X_names), map(float, coef), strict=True))


def _collected(lf: Any, columns: list[str | None], why: str) -> tuple[Any, str]:
    """Rows of the needed columns from a lazy table, and the engine text that says so."""
    from truelift.propensity._engine import collect

    return collect(lf, [c for c in columns if c is not None]), (
        f"{engine_name(lf)} (rows collected: {why})"
    )


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
        data: a pandas, polars or pyarrow table (never modified), or a lazy table (DuckDB
            relation, polars LazyFrame, PySpark DataFrame): then the logistic fit (one
            aggregation per Newton step), the weighted moments and the variance are sums computed
            inside the engine and only those leave it (``params["engine"]``,
            ``details["transferred"]``).
        estimand: ``"ATE"``, ``"ATT"`` or ``"ATO"`` (overlap weights).
        trim: drop units with propensity outside ``[trim, 1 - trim]`` (or ``(lo, hi)``); the
            estimand becomes the effect on the kept units.
        cluster: column of cluster labels for cluster-robust (CR1) standard errors.
        model: ``None`` for the unpenalized logistic MLE (SE accounts for its estimation), or a
            scikit-learn classifier (SE then treats its scores as known; the result says so; on a
            lazy table the needed columns are collected, and the result says that too).
    """
    choice("estimand", estimand, ("ATE", "ATT", "ATO"))
    spec = {"treatment": treatment, "outcome": outcome, "covariates": covariates}
    lf = lazy_frame(data)
    engine = "in-memory"
    if lf is not None and model is None:
        from truelift.propensity._engine import ipw_lazy

        run = ipw_lazy(lf, **spec, estimand=estimand, trim=trim, cluster=cluster, missing=missing)
    else:
        if lf is not None:
            cols = [treatment, outcome, *covariate_list(covariates), cluster]
            data, engine = _collected(lf, cols, "a scikit-learn propensity model needs rows")
        run = _ipw_in_memory(data, spec, estimand, trim, cluster, model, missing, engine)
    return _assemble(
        run,
        estimand=estimand,
        conf_level=conf_level,
        method=f"IPW (Hájek), {estimand} weights",
        inference=(
            "sandwich (stacked estimating equations incl. the logistic propensity score)"
            if model is None
            else "influence function treating the propensity scores as known "
            "(conservative for the ATE)"
        )
        + (", cluster-robust (CR1)" if cluster is not None else ""),
        params={"estimator": "ipw", "treatment": treatment, "outcome": outcome, "cluster": cluster},
    )


def _ipw_in_memory(
    data: Any,
    spec: dict[str, Any],
    estimand: str,
    trim: Any,
    cluster: str | None,
    model: Any,
    missing: _frame.MissingPolicy,
    engine: str,
) -> Run:
    design = load_design(data, **spec, cluster=cluster, missing=missing)
    t, y = design.t, _outcome_of(design)
    facts: Callable[[], Facts]
    feed: IpwFeed
    hessian: np.ndarray | None
    coef: np.ndarray | None
    if model is None:  # the default score: the fused passes (same figures, fewer passes)
        fused = fused_ipw(design, y, estimand, trim_bounds(trim))
        feed, hessian, pending = fused.feed, fused.hessian, fused.pending
        coef, name, bounds = fused.coef, "logistic (unpenalized MLE)", fused.feed.bounds
        n_trimmed = round(design.n_obs - fused.n_kept)
        facts = partial(fused_facts, design, fused)  # after the kernel's psi pass
    else:
        score = fit_score(design, model)
        keep, bounds = trim_mask(score.e, trim)
        w, s = weights(score.e, t, estimand)
        w = w * keep
        if t[keep].min() == t[keep].max():
            raise IdentificationError(
                f"After trimming to {bounds} only one arm remains; loosen trim."
            )
        feed = ArrayFeed(t, y, score.e, w, s, design.X, keep, design.cluster)
        hessian, pending, coef, name = score.hessian, None, score.coef, score.model
        n_trimmed = int((~keep).sum())
        facts = partial(_array_facts, design, score.e, w, keep, score.auc)
    est, var, mu1, mu0, _ = ipw_flow(feed, hessian, pending)
    return Run(
        est=est,
        var=var,
        facts=facts(),
        n_obs=design.n_obs,
        n_dropped=design.n_dropped,
        covariates=design.covariates,
        coef=_coef(design, coef),
        model=name,
        bounds=bounds,
        n_trimmed=n_trimmed,
        engine=engine,
        extra={"mean_treated": mu1, "mean_control": mu0},
    )


def _assemble(
    run: Run,
    *,
    estimand: str,
    conf_level: float,
    method: str,
    inference: str,
    params: dict[str, Any],
) -> Estimate:
    """SE, interval, diagnostics and the result record shared by ipw() and aipw() on any feed."""
    facts = run.facts
    se = float(np.sqrt(run.var))
    lo, hi, p = interval(run.est, se, conf_level)
    rows = facts.balance
    diags = (
        overlap_verdict(facts.overlap, estimand),
        balance_diagnostic(rows, f"{estimand} weighting"),
        auc_diagnostic(facts.auc),
    )
    bounds = run.bounds
    where = (
        "" if bounds is None else f", on units with propensity in [{bounds[0]:g}, {bounds[1]:g}]"
    )
    details: dict[str, Any] = {
        "overlap_hist": facts.hist,
        "balance": rows,
        "propensity": {
            "auc": facts.auc,
            "min": facts.e_range[0],
            "max": facts.e_range[1],
            "model": run.model,
            "coef": run.coef,
        },
    }
    if run.transferred is not None:
        details["transferred"] = run.transferred
    result = Estimate(
        estimate=run.est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=run.n_obs,
        n_dropped=run.n_dropped,
        estimand=f"{_WORDS[estimand]} of {params['treatment']} on {params['outcome']}{where}",
        method=method,
        params={
            "design": "propensity",
            **params,
            "model": run.model,
            **(run.extra or {}),
            "covariates": list(run.covariates),
            "estimand": estimand,
            "trim": list(bounds) if bounds else None,
            "n_trimmed": run.n_trimmed,
            "n_treated": facts.n_treated,
            "engine": run.engine,
        },
        diagnostics=diags,
        inference=inference + ", normal interval",
        details=details,
    )
    return replace(result, diagnostics=(*diags, _e_value(result, facts)))


def _e_value(result: Estimate, facts: Facts) -> Diagnostic:
    """E-value of the estimate and its interval, in words (VanderWeele & Ding 2017)."""
    if facts.y_binary and 0 < facts.base < 1:
        return e_value_diagnostic(result, baseline=facts.base)
    return e_value_diagnostic(result, sd=facts.y_sd or 1.0)


def _rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


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
        data: a pandas, polars or pyarrow table (never modified), or a lazy table (DuckDB
            relation, polars LazyFrame, PySpark DataFrame). With the default models and no
            cross-fitting the nuisance fits and the moments are sums computed in the engine;
            otherwise the needed columns are collected and ``params["engine"]`` says so.
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
    spec = {"treatment": treatment, "outcome": outcome, "covariates": covariates}
    lf = lazy_frame(data)
    engine = "in-memory"
    default_models = outcome_model in (None, "linear", "logistic") and propensity_model is None
    if lf is not None and default_models and folds is None:
        from truelift.propensity._engine import aipw_lazy

        om = outcome_model or "linear"
        run = aipw_lazy(lf, **spec, estimand=estimand, outcome_model=om, trim=trim,
                        cluster=cluster, missing=missing)  # fmt: skip
    else:
        if lf is not None:
            why = "cross-fitting needs rows" if folds else "scikit-learn nuisance models need rows"
            cols = [treatment, outcome, *covariate_list(covariates), cluster]
            data, engine = _collected(lf, cols, why)
        design = load_design(data, **spec, cluster=cluster, missing=missing)
        run = _aipw_in_memory(
            design, estimand, outcome_model, propensity_model, folds, _rng(rng), trim, engine
        )
    om_name = outcome_model if isinstance(outcome_model, str) else type(outcome_model).__name__
    return _assemble(
        run,
        estimand=estimand,
        conf_level=conf_level,
        method="AIPW (doubly robust)" + (f", {folds}-fold cross-fitting" if folds else ""),
        inference="influence function" + (", cluster-robust (CR1)" if cluster is not None else ""),
        params={
            "estimator": "aipw",
            "treatment": treatment,
            "outcome": outcome,
            "cluster": cluster,
            "outcome_model": "linear" if outcome_model is None else om_name,
            "propensity_model": run.model,
            "folds": folds,
        },
    )


def _aipw_in_memory(
    design: Design,
    estimand: str,
    outcome_model: Any,
    propensity_model: Any,
    folds: int | None,
    rng: np.random.Generator,
    trim: Any,
    engine: str,
) -> Run:
    t, y, X = design.t, _outcome_of(design), design.X
    e, m1, m0 = cross_fit(
        X,
        t,
        y,
        outcome_model=outcome_model,
        propensity_model=propensity_model,
        folds=folds,
        rng=rng,
    )
    check_scores(e)
    keep, bounds = trim_mask(e, trim)
    if t[keep].min() == t[keep].max():
        raise IdentificationError(f"After trimming to {bounds} only one arm remains; loosen trim.")
    w = weights(e, t, estimand)[0] * keep
    feed = ArrayFeed(t, y, e, w, w, X, keep, design.cluster, m1, m0)
    est, var = aipw_flow(feed, estimand)
    return Run(
        est=est,
        var=var,
        facts=_array_facts(design, e, w, keep, auc(e, t)),
        n_obs=design.n_obs,
        n_dropped=design.n_dropped,
        covariates=design.covariates,
        coef=None,
        model=str(propensity_model or "logistic (unpenalized MLE)"),
        bounds=bounds,
        n_trimmed=int((~keep).sum()),
        engine=engine,
    )
