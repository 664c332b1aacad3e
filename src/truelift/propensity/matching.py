"""Nearest-neighbour matching with Abadie–Imbens standard errors.

Each focal unit (the treated for the ATT; every unit for the ATE) is matched to its ``k`` nearest
units of the other arm, on the logit of the estimated propensity score (Rosenbaum & Rubin 1985;
calipers in standard deviations of the logit, Austin 2011) or on the covariates under the
Mahalanobis metric. The missing potential outcome is the average of the matches, optionally
bias-corrected by per-arm linear regressions on the covariates (Abadie & Imbens 2011).
Standard errors follow Abadie & Imbens (2006, Theorem 7): with ``K(j)`` the (weighted) number of
times unit ``j`` is used as a match and ``sigma^2(j)`` its conditional outcome variance,
estimated by matching ``j`` to its two nearest units in its own arm,
``V_ATE = N^-2 sum_i [(Y1_i - Y0_i - tau)^2 + (K_i^2 + 2 K_i - q_i) sigma_i^2]`` and
``V_ATT = N1^-2 [sum_treated (Y_i - Y0_i - tau)^2 + sum_controls (K_j^2 - q_j) sigma_j^2]``, where
``q_j = sum 1/|J(i)|^2`` over the units ``i`` that use ``j`` (``K/M^2`` with ``M`` matches each).
The score is treated as known (Abadie & Imbens 2016 show this is conservative for the ATE).
Rosenbaum (2002) bounds of the matched ATT pairs are attached as a sensitivity diagnostic.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.engines import engine_name, lazy_frame
from truelift.errors import DesignError, IdentificationError
from truelift.inference import interval
from truelift.propensity._common import Design, choice, covariate_list, fit_score, load_design
from truelift.propensity._nn import greedy, knn
from truelift.propensity.diagnostics import (
    auc_diagnostic,
    balance_diagnostic,
    balance_rows,
    overlap_diagnostic,
    overlap_histogram,
)
from truelift.result import Diagnostic, Estimate

__all__ = ["match"]

SIGMA_MATCHES = 2


def _metric(design: Design, e: np.ndarray, on: str) -> np.ndarray:
    if on == "propensity":
        return np.log(e / (1 - e))
    X = design.X
    cov = np.atleast_2d(np.cov(X, rowvar=False))
    try:
        L = np.linalg.cholesky(np.linalg.inv(cov))
    except np.linalg.LinAlgError as exc:
        raise DesignError(
            "The covariates are collinear, so the Mahalanobis metric is undefined; drop redundant "
            "covariates or match on='propensity'."
        ) from exc
    return np.asarray(X @ L)


def _pairs(
    z: np.ndarray, t: np.ndarray, focal_arm: int, k: int, replace: bool, caliper: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(focal, match, weight) triples for focal units of ``focal_arm`` matched to the other arm."""
    focal = np.flatnonzero(t == focal_arm)
    pool = np.flatnonzero(t != focal_arm)
    if replace:
        idx, dist = knn(z[focal], z[pool], k)
    else:
        order = np.argsort(-z[focal] if focal_arm == 1 else z[focal], kind="stable")
        idx, dist = greedy(z[focal], z[pool], k, order)
    ok = idx >= 0
    k = idx.shape[1]  # fewer than k when the other arm is smaller
    if caliper is not None:
        ok &= dist <= caliper
    n_match = ok.sum(axis=1)
    fi = np.repeat(focal, k)[ok.ravel()]
    mj = pool[np.where(ok, idx, 0).ravel()[ok.ravel()]]
    wt = (1.0 / np.maximum(n_match, 1)).repeat(k)[ok.ravel()]
    return fi, mj, wt


def _sigma2(z: np.ndarray, t: np.ndarray, y: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Abadie–Imbens conditional variance: match each unit to J units of its own arm."""
    s2 = np.zeros(t.size)
    J = SIGMA_MATCHES
    for arm in (0.0, 1.0):
        units = np.flatnonzero((t == arm) & need)
        ref = np.flatnonzero(t == arm)
        if units.size == 0 or ref.size < 2:
            continue
        j = min(J, ref.size - 1)
        idx, _ = knn(z[units], z[ref], j + 1)
        own = ref[idx]
        is_self = own == units[:, None]
        # drop the unit itself (or, for exact duplicates, the last neighbour)
        drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), j)
        keep = np.ones_like(is_self)
        keep[np.arange(units.size), drop] = False
        nb = own[keep].reshape(units.size, j)
        s2[units] = j / (j + 1) * (y[units] - y[nb].mean(axis=1)) ** 2
    return s2


def _bias_terms(X: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-arm linear predictions mu1(X), mu0(X) for the Abadie–Imbens (2011) bias correction."""
    out = []
    A = np.column_stack([np.ones(t.size), X])
    for arm in (1.0, 0.0):
        rows = t == arm
        coef, *_ = np.linalg.lstsq(A[rows], y[rows], rcond=None)
        out.append(A @ coef)
    return out[0], out[1]


def _impute(
    fi: np.ndarray,
    mj: np.ndarray,
    wt: np.ndarray,
    design: Design,
    y: np.ndarray,
    mu: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """Imputed other-arm outcome of every focal unit: sum_j w_ij (Y_j + m(X_i) - m(X_j)), where
    m is the regression fitted in the matches' arm (``mu = (mu1, mu0)``; Abadie & Imbens 2011)."""
    n = design.t.size
    val = y[mj]
    if mu is not None:
        m = np.where(design.t[mj] == 1, mu[0][fi] - mu[0][mj], mu[1][fi] - mu[1][mj])
        val = val + m
    return np.bincount(fi, weights=wt * val, minlength=n)


def _estimate(
    z: np.ndarray,
    design: Design,
    y: np.ndarray,
    estimand: str,
    k: int,
    replace: bool,
    caliper: float | None,
    bias_correct: bool,
) -> dict[str, Any]:
    """Matching estimate, Abadie–Imbens variance and the matched weights of every unit."""
    t, n = design.t, design.t.size
    arms = (1,) if estimand == "ATT" else (1, 0)
    tri = [_pairs(z, t, a, k, replace, caliper) for a in arms]
    fi, mj, wt = (np.concatenate(parts) for parts in zip(*tri, strict=True))
    matched = np.zeros(n, dtype=bool)
    matched[fi] = True
    focal = matched if estimand == "ATE" else matched & (t == 1)
    mu = _bias_terms(design.X, t, y) if bias_correct else None
    y_other = _impute(fi, mj, wt, design, y, mu)
    y1 = np.where(t == 1, y, y_other)
    y0 = np.where(t == 1, y_other, y)
    K = np.bincount(mj, weights=wt, minlength=n)
    q = np.bincount(mj, weights=wt**2, minlength=n)
    tau = float(np.mean((y1 - y0)[focal]))
    s2 = _sigma2(z, t, y, focal | (K > 0))
    nf = int(focal.sum())
    if estimand == "ATE":
        var = (((y1 - y0 - tau) ** 2)[focal].sum() + ((K**2 + 2 * K - q) * s2).sum()) / nf**2
        w = (focal + K).astype(float)
    else:
        ctrl = t == 0
        var = (((y1 - y0 - tau) ** 2)[focal].sum() + ((K**2 - q) * s2)[ctrl].sum()) / nf**2
        w = focal + K * ctrl
    return {
        "y0_mean": float(np.mean(y0[focal])),
        "y_sd": float(np.std(y)),
        "binary": bool(np.isin(y, (0.0, 1.0)).all()),
        "tau": tau,
        "se": float(np.sqrt(max(var, 0.0))),
        "w": w,
        "focal": focal,
        "n_unmatched": int(((t == 1) if estimand == "ATT" else np.ones(n, bool)).sum() - nf),
        "pair_diff": (y1 - y0)[focal] if estimand == "ATT" and k == 1 else None,
    }


def _caliper_diagnostic(n_unmatched: int, n_focal: int, caliper: float | None) -> Diagnostic:
    share = n_unmatched / max(n_unmatched + n_focal, 1)
    if n_unmatched == 0:
        verdict, msg = (
            "pass",
            "Every focal unit found a match"
            + (f" within the caliper ({caliper:g})." if caliper is not None else "."),
        )
    else:
        verdict, msg = (
            "warn",
            (
                f"{n_unmatched:,} units ({share:.1%}) found no match"
                + (f" within the caliper ({caliper:g})" if caliper is not None else "")
                + "; they are excluded, so the estimate describes the matched units only."
            ),
        )
    return Diagnostic(
        name="matched share",
        verdict=verdict,  # type: ignore[arg-type]
        value=float(share),
        threshold="every focal unit matched",
        message=msg,
        consequence="none",
    )


def _check_options(on: str, estimand: str, k: Any, caliper: Any) -> None:
    choice("on", on, ("propensity", "mahalanobis"))
    choice("estimand", estimand, ("ATT", "ATE"))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DesignError(f"k must be a positive integer (matches per unit); got {k!r}.")
    if caliper is not None and not (isinstance(caliper, (int, float)) and caliper > 0):
        raise DesignError(f"caliper must be None or a positive number; got {caliper!r}.")


def match(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Any,
    on: Literal["propensity", "mahalanobis"] = "propensity",
    k: int = 1,
    replace: bool = True,
    caliper: float | None = None,
    estimand: Literal["ATT", "ATE"] = "ATT",
    bias_correct: bool = False,
    model: Any = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Nearest-neighbour matching estimate of the ATT (or ATE) with Abadie–Imbens SEs.

    Args:
        on: ``"propensity"`` (logit of the estimated score) or ``"mahalanobis"`` (covariates).
        k: matches per unit. ``replace``: match with replacement (default) or greedily without.
        caliper: largest allowed distance, in standard deviations of the logit score
            (``on="propensity"``) or in Mahalanobis units; unmatched units are excluded.
        estimand: ``"ATT"`` (treated matched to controls) or ``"ATE"`` (both directions).
        bias_correct: Abadie–Imbens (2011) regression bias correction on the covariates.
        model: propensity model (``None``: unpenalized logistic; or a scikit-learn classifier).

    ``data`` may be a lazy table (DuckDB relation, polars LazyFrame, PySpark DataFrame): matching
    needs the rows, so the treatment, outcome and covariate columns are collected, and
    ``params["engine"]`` and ``details["transferred"]`` say so.
    """
    _check_options(on, estimand, k, caliper)
    engine = "in-memory"
    lf = lazy_frame(data)
    if lf is not None:  # nearest neighbours need the rows: collect the needed columns only
        from truelift.propensity._engine import collect

        data = collect(lf, [treatment, outcome, *covariate_list(covariates)])
        engine = f"{engine_name(lf)} (rows collected: nearest-neighbour matching needs rows)"
    design = load_design(
        data, treatment=treatment, outcome=outcome, covariates=covariates, missing=missing
    )
    if design.y is None:
        raise DesignError("an outcome column is required.")
    y, t = design.y, design.t
    score = fit_score(design, model)
    z = _metric(design, score.e, on)
    cal = (
        None
        if caliper is None
        else float(caliper) * (float(np.std(z)) if on == "propensity" else 1.0)
    )
    if not replace and on == "propensity" and (t == 1).sum() * k > (t == 0).sum():
        raise IdentificationError(
            f"Matching {int(t.sum()):,} treated units to {k} controls each without replacement "
            f"needs {int(t.sum()) * k:,} controls; there are {int((t == 0).sum()):,}. Use "
            "replace=True or a smaller k."
        )
    r = _estimate(z, design, y, estimand, int(k), replace, cal, bias_correct)
    if not r["focal"].any():
        raise IdentificationError("No unit found a match within the caliper; widen it.")
    lo, hi, p = interval(r["tau"], r["se"], conf_level)
    B, names = design.balance_matrix()
    rows = balance_rows(B, names, t, r["w"])
    diags: list[Diagnostic] = [
        overlap_diagnostic(score.e, t, np.maximum(r["w"], 1e-300), estimand),
        balance_diagnostic(rows, "matching"),
        auc_diagnostic(score.auc),
        _caliper_diagnostic(r["n_unmatched"], int(r["focal"].sum()), caliper),
    ]
    if r["pair_diff"] is not None:
        from truelift.sensitivity import rosenbaum_diagnostic

        diags.append(rosenbaum_diagnostic(r["pair_diff"], 1 - conf_level))
    result = _result(design, score, r, rows, diags, (lo, hi, p), conf_level, locals())
    from truelift.sensitivity import e_value_diagnostic

    base = r["y0_mean"]
    ev = (
        e_value_diagnostic(result, baseline=base)
        if r["binary"] and 0 < base < 1
        else e_value_diagnostic(result, sd=r["y_sd"] or 1.0)
    )
    return dataclasses.replace(result, diagnostics=(*result.diagnostics, ev))


def _result(
    design: Design,
    score: Any,
    r: dict[str, Any],
    rows: list[dict[str, Any]],
    diags: list[Diagnostic],
    ci: tuple[float, float, float],
    conf_level: float,
    opts: dict[str, Any],
) -> Estimate:
    estimand, on, k = opts["estimand"], opts["on"], opts["k"]
    who = "treated units" if estimand == "ATT" else "units"
    words = (
        "average treatment effect on the treated (ATT)"
        if estimand == "ATT"
        else "average treatment effect (ATE)"
    )
    if r["n_unmatched"]:
        words += f", over the {int(r['focal'].sum()):,} {who} with a match within the caliper"
    return Estimate(
        estimate=r["tau"],
        std_error=r["se"],
        ci_low=ci[0],
        ci_high=ci[1],
        conf_level=conf_level,
        p_value=ci[2],
        n_obs=design.n_obs,
        n_dropped=design.n_dropped,
        estimand=f"{words} of {opts['treatment']} on {opts['outcome']}",
        method=f"{k}-nearest-neighbour matching on {on}"
        + (" with replacement" if opts["replace"] else " without replacement")
        + (", bias-corrected" if opts["bias_correct"] else ""),
        params={
            "design": "propensity",
            "estimator": "match",
            "treatment": opts["treatment"],
            "outcome": opts["outcome"],
            "covariates": list(design.covariates),
            "estimand": estimand,
            "on": on,
            "k": int(k),
            "replace": bool(opts["replace"]),
            "caliper": opts["caliper"],
            "bias_correct": bool(opts["bias_correct"]),
            "model": score.model,
            "n_unmatched": r["n_unmatched"],
            "n_treated": int(design.t.sum()),
            "engine": opts["engine"],
        },
        diagnostics=tuple(diags),
        inference="Abadie–Imbens (2006) matching variance (score treated as known), normal interval",
        details={
            "overlap_hist": overlap_histogram(score.e, design.t),
            "balance": rows,
            "propensity": {
                "auc": score.auc,
                "min": float(score.e.min()),
                "max": float(score.e.max()),
            },
            **(
                {
                    "transferred": f"rows: {design.n_obs + design.n_dropped:,} x "
                    f"{2 + len(design.covariates)} columns (matching needs them in memory)"
                }
                if opts["engine"] != "in-memory"
                else {}
            ),
        },
    )
