"""Evaluating an uplift score: Qini and uplift curves, Qini coefficient and AUUC.

A score ranks users by how much they are predicted to benefit. Its curves compare treating the
top-k users with treating k users at random (Radcliffe 2007, "Using control groups to target on
predicted lift"). On a randomized holdout the curves are unbiased; on observational data each user
is weighted by the inverse probability of the arm they were in (IPW, Hájek weights), which makes
treated and control rows comparable again (the result says which adjustment was used).

The field's two reference implementations define the curves and their normalisation differently;
both are supported exactly (``convention=``):

* ``"sklift"`` (scikit-uplift 0.5.1, ``sklift.metrics``): curve points only where the score
  changes (ties form one step); Qini curve ``Y_t(k) - Y_c(k) N_t(k)/N_c(k)``, uplift curve
  ``(Y_t/N_t - Y_c/N_c)(k) * k``; areas by the trapezoid rule; coefficient = (area - area of the
  random line) / (area of the perfect curve - area of the random line), with the perfect Qini curve
  allowing negative effects (``negative_effect=True``) and scikit-uplift's perfect uplift curve.
* ``"causalml"`` (causalml 0.18, ``causalml.metrics.qini_score`` / ``auuc_score``): one point per
  row in score order (ties in pandas' unspecified sort order: exact parity needs an untied score),
  0/0 points linearly interpolated, a zero point prepended, each curve divided by the absolute value
  of its last point; AUUC = mean of the normalised cumulative-gain curve (the random line scores
  0.5 when the overall effect is positive); Qini score = mean of the normalised Qini curve minus the
  mean of the straight line from its first to its last point.

Uncertainty: the normalised areas have no simple influence function (the normaliser is itself a
random, rank-based curve), so standard errors come from a bootstrap over users, seeded by ``rng``;
``inference`` says so.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.errors import DesignError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate, EstimateSet
from truelift.uplift._rows import engine_label, gather, with_record
from truelift.uplift.learners import (
    Rng,
    as_rng,
    check_option,
    cross_fit_propensity,
    known_propensity,
)

__all__ = [
    "CONVENTIONS",
    "auuc_score",
    "evaluate_uplift",
    "qini_coefficient",
    "qini_curve",
    "uplift_curve",
]

Convention = Literal["sklift", "causalml"]
CONVENTIONS: tuple[str, ...] = ("sklift", "causalml")
Adjustment = Literal["auto", "none", "ipw", "aipw"]


# ---- sklift convention ---------------------------------------------------------------------------
def _step_sums(
    y: np.ndarray, t: np.ndarray, score: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Weighted cumulative sums at the points where the (descending) score changes."""
    order = np.argsort(score, kind="mergesort")[::-1]
    y, t, s, w = y[order], t[order], score[order], w[order]
    idx = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    n_t = np.cumsum(w * t)[idx]
    n_all = np.cumsum(w)[idx]
    y_t = np.cumsum(w * y * t)[idx]
    y_c = np.cumsum(w * y * (1 - t))[idx]
    return n_all, n_t, n_all - n_t, y_t, y_c


def _prepend_origin(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size == 0 or v[0] != 0 or x[0] != 0:
        return np.r_[0.0, x], np.r_[0.0, v]
    return x, v


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)


def _sk_qini(y: Any, t: Any, s: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    n_all, n_t, n_c, y_t, y_c = _step_sums(y, t, s, w)
    return _prepend_origin(n_all, y_t - y_c * _div(n_t, n_c))


def _sk_uplift(y: Any, t: Any, s: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    n_all, n_t, n_c, y_t, y_c = _step_sums(y, t, s, w)
    return _prepend_origin(n_all, (_div(y_t, n_t) - _div(y_c, n_c)) * n_all)


def _sk_coefficient(
    kind: str, y: np.ndarray, t: np.ndarray, score: np.ndarray, w: np.ndarray
) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    if kind == "qini":
        curve = _sk_qini(y, t, score, w)
        perfect = _sk_qini(y, t, y * t - y * (1 - t), w)
    else:
        curve = _sk_uplift(y, t, score, w)
        cr = np.sum(w * ((y == 1) & (t == 0)))  # control responders
        tn = np.sum(w * ((y == 0) & (t == 1)))  # treated non-responders
        perfect = _sk_uplift(y, t, 2.0 * (y == t) + (y if cr > tn else t), w)
    base = np.trapezoid([0.0, perfect[1][-1]], [0.0, perfect[0][-1]])
    top = np.trapezoid(perfect[1], perfect[0]) - base
    return float((np.trapezoid(curve[1], curve[0]) - base) / top), curve


# ---- causalml convention -------------------------------------------------------------------------
def _interp_nan(v: np.ndarray) -> np.ndarray:
    bad = np.isnan(v)
    if bad.any():
        x = np.arange(v.size)
        v = v.copy()
        v[bad] = np.interp(x[bad], x[~bad], v[~bad])
    return v


def _cm_curve(
    kind: str, y: np.ndarray, t: np.ndarray, score: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """causalml's per-row curve with the prepended zero point; 0/0 points interpolated."""
    order = np.argsort(-score, kind="stable")
    y, t, w = y[order], t[order], w[order]
    n_k = np.cumsum(w)
    c_t = np.cumsum(w * t)
    c_c = n_k - c_t
    cy_t, cy_c = np.cumsum(w * y * t), np.cumsum(w * y * (1 - t))
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "qini":
            return _interp_nan(np.r_[0.0, cy_t - cy_c * c_t / c_c])
        lift = _interp_nan(np.r_[0.0, cy_t / c_t - cy_c / c_c])
    return lift * np.r_[0.0, n_k]  # cumulative gain = interpolated cumulative lift x population


def _cm_coefficient(
    kind: str, y: np.ndarray, t: np.ndarray, score: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    v = _cm_curve(kind, y, t, score, w)
    norm = v / np.abs(v[-1])
    if kind == "qini":
        random_area = np.linspace(norm[0], norm[-1], norm.size).sum()
        return float((norm.sum() - random_area) / norm.size), v
    return float(norm.sum() / norm.size), v


# ---- public array kernels ------------------------------------------------------------------------
def _arrays(y: Any, t: Any, score: Any, weights: Any) -> tuple[np.ndarray, ...]:
    y, t, s = (np.asarray(a, dtype=float) for a in (y, t, score))
    if not (y.shape == t.shape == s.shape) or y.ndim != 1:
        raise DesignError("outcome, treatment and score must be 1-d arrays of equal length.")
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    return y, t, s, w


def qini_curve(
    y: Any, treatment: Any, score: Any, *, weights: Any = None, convention: Convention = "sklift"
) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve ``(x, value)``: number targeted (by descending score) and incremental outcomes.

    ``convention="sklift"`` gives scikit-uplift's step points, ``"causalml"`` one point per row
    (with the leading zero point). ``weights`` (e.g. IPW) weight every sum.
    """
    check_option("convention", convention, CONVENTIONS)
    y, t, s, w = _arrays(y, treatment, score, weights)
    if convention == "sklift":
        return _sk_qini(y, t, s, w)
    v = _cm_curve("qini", y, t, s, w)
    return np.r_[0.0, np.cumsum(w[np.argsort(-s, kind="stable")])], v


def uplift_curve(
    y: Any, treatment: Any, score: Any, *, weights: Any = None, convention: Convention = "sklift"
) -> tuple[np.ndarray, np.ndarray]:
    """Uplift (cumulative gain) curve ``(x, value)``: (mean_t - mean_c) among the top k, times k."""
    check_option("convention", convention, CONVENTIONS)
    y, t, s, w = _arrays(y, treatment, score, weights)
    if convention == "sklift":
        return _sk_uplift(y, t, s, w)
    v = _cm_curve("uplift", y, t, s, w)
    return np.r_[0.0, np.cumsum(w[np.argsort(-s, kind="stable")])], v


def qini_coefficient(
    y: Any, treatment: Any, score: Any, *, weights: Any = None, convention: Convention = "sklift"
) -> float:
    """Qini coefficient: ``sklift.metrics.qini_auc_score`` or ``causalml.metrics.qini_score``."""
    check_option("convention", convention, CONVENTIONS)
    y, t, s, w = _arrays(y, treatment, score, weights)
    fn = _sk_coefficient if convention == "sklift" else _cm_coefficient
    return fn("qini", y, t, s, w)[0]


def auuc_score(
    y: Any, treatment: Any, score: Any, *, weights: Any = None, convention: Convention = "sklift"
) -> float:
    """Area under the uplift curve: ``sklift.metrics.uplift_auc_score`` (normalised, random = 0)
    or ``causalml.metrics.auuc_score`` (normalised gain, random = 0.5 for a positive effect)."""
    check_option("convention", convention, CONVENTIONS)
    y, t, s, w = _arrays(y, treatment, score, weights)
    fn = _sk_coefficient if convention == "sklift" else _cm_coefficient
    return fn("uplift", y, t, s, w)[0]


# ---- the public evaluation -----------------------------------------------------------------------
def _ipw_weights(
    cols: _frame.Columns, propensity: float | str | None, rng: np.random.Generator
) -> tuple[np.ndarray | None, str, np.ndarray | None]:
    """Hájek IPW weights (or None), the adjustment's name, and the propensities used."""
    t = cols["treatment"]
    known = known_propensity(cols, propensity)
    if known is not None:
        e = np.broadcast_to(np.asarray(known, float), t.shape)
        if np.ptp(e) == 0:
            return None, "none (known constant assignment probability)", e
        return t / e + (1 - t) / (1 - e), "ipw (known propensities)", e
    if cols.X.shape[1] == 0:
        return None, "none (assumed randomized holdout)", None
    e = cross_fit_propensity(cols.X, t, seed=int(rng.integers(0, 2**31 - 1)))
    return t / e + (1 - t) / (1 - e), "ipw (cross-fitted logistic propensity)", e


def _bootstrap(
    y: np.ndarray,
    t: np.ndarray,
    s: np.ndarray,
    w: np.ndarray,
    convention: str,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Bootstrap replicates (n_boot x 2) of (Qini coefficient, AUUC), resampling users."""
    fn = _sk_coefficient if convention == "sklift" else _cm_coefficient
    out = np.empty((n_boot, 2))
    n = y.size
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        yb, tb, sb, wb = y[idx], t[idx], s[idx], w[idx]
        if tb.min() == tb.max():
            out[b] = np.nan
            continue
        out[b] = fn("qini", yb, tb, sb, wb)[0], fn("uplift", yb, tb, sb, wb)[0]
    return out


def _thin(x: np.ndarray, v: np.ndarray, k: int = 201) -> tuple[list[float], list[float]]:
    """At most ``k`` points of a curve for plotting, x as the fraction targeted."""
    pick = np.unique(np.linspace(0, x.size - 1, min(k, x.size)).round().astype(int))
    return (x[pick] / x[-1]).tolist(), v[pick].tolist()


def evaluate_uplift(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    score: str,
    covariates: list[str] | None = None,
    propensity: float | str | None = None,
    adjustment: Adjustment = "auto",
    convention: Convention = "sklift",
    model: Any = None,
    n_boot: int = 200,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
    rng: Rng = None,
    sample: float | int | None = None,
) -> EstimateSet:
    """Qini coefficient and AUUC of an uplift ``score`` against the random baseline.

    Args:
        data: one row per user, ideally a randomized holdout the score was not trained on.
        treatment, outcome: binary treatment and numeric outcome columns.
        score: column with each user's predicted uplift (higher = target first).
        covariates: for observational data, the confounders of a cross-fitted logistic
            propensity model (IPW adjustment).
        propensity: known assignment probability (float) or per-user propensity column.
        adjustment: ``"auto"`` (IPW when propensities vary or covariates are given, else none),
            ``"none"`` (randomized holdout), ``"ipw"``, or ``"aipw"`` (cross-fitted doubly robust
            scores Gamma_i replace the outcomes; the curve is sum of Gamma over the top k, and the
            sklift normalisation uses Gamma's own ordering as the perfect curve).
        convention: ``"sklift"`` or ``"causalml"`` definitions of the curves (module docstring).
        model: scikit-learn regressor of the AIPW outcome models (default gradient boosting).
        n_boot: bootstrap resamples for the standard errors. ``rng``: seed or Generator.
        sample: ``None`` (all rows) or a fraction in (0, 1) / a row count drawn with ``rng``;
            the only way rows are left out. A lazy table (DuckDB, polars lazy, Spark) has its
            needed columns collected (the curves sort users), recorded in ``details["collected"]``.

    Returns an :class:`EstimateSet` with ``"qini"`` (the headline) and ``"auuc"``; p-values test
    the random baseline (0 for both sklift scores and the causalml Qini score, 0.5 times the sign
    of the overall effect for causalml's AUUC). ``details`` holds the curves for plotting.
    """
    check_option("convention", convention, CONVENTIONS)
    check_option("adjustment", adjustment, ("auto", "none", "ipw", "aipw"))
    if not isinstance(n_boot, int) or n_boot < 20:
        raise DesignError(f"n_boot must be an integer >= 20; got {n_boot!r}.")
    role = {"propensity": propensity} if isinstance(propensity, str) else {}
    gen = as_rng(rng)
    data, record = gather(
        data,
        [treatment, outcome, score, role.get("propensity"), *(covariates or [])],
        sample=sample,
        rng=gen,
    )
    cols = _frame.load(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome, "score": score, **role},
        covariates=covariates or [],
        missing=missing,
    )
    y, t, s = cols["outcome"], cols["treatment"], cols["score"]
    params = {
        "design": "uplift",
        "analysis": "evaluation",
        "treatment": treatment,
        "outcome": outcome,
        "score": score,
        "convention": convention,
        "adjustment": "",
        "n_boot": n_boot,
        "engine": engine_label(record),
        "sample": sample,
    }
    if adjustment == "aipw":
        res = _evaluate_aipw(cols, propensity, model, params, gen, conf_level)
        return with_record(res, record)
    w, how, e = _ipw_weights(cols, propensity, gen)
    if adjustment == "ipw" and w is None:
        if e is None:
            raise DesignError("adjustment='ipw' needs propensity= or covariates= to weight by.")
        w = t / e + (1 - t) / (1 - e)
        how = "ipw (known propensities)"
    if adjustment == "none":
        w, how = None, "none (randomized holdout)"
    weights = np.ones_like(y) if w is None else w
    fn = _sk_coefficient if convention == "sklift" else _cm_coefficient
    qini, q_curve = fn("qini", y, t, s, weights)
    auuc, u_curve = fn("uplift", y, t, s, weights)
    boot = _bootstrap(y, t, s, weights, convention, n_boot, gen)
    curves = {
        "qini": _as_xy(q_curve, weights, s),
        "uplift": _as_xy(u_curve, weights, s),
    }
    params["adjustment"] = how
    res = _evaluation_result(cols, (qini, auuc), boot, curves, params, e, conf_level)
    return with_record(res, record)


def _gain_coefficients(
    gamma: np.ndarray, s: np.ndarray, convention: str
) -> tuple[tuple[float, float], np.ndarray, np.ndarray]:
    """AIPW gain curve sum_{top k} Gamma_i and its (Qini, AUUC) in either convention.

    Under AIPW the Qini and uplift curves coincide (both estimate the incremental outcomes from
    treating the top k). sklift normalisation: the perfect curve sorts by Gamma itself (the
    analogue of scikit-uplift's sort by the realised outcome pattern); random line to the end.
    """
    order = np.argsort(-s, kind="stable")
    g = gamma[order]
    if convention == "causalml":
        v = np.r_[0.0, np.cumsum(g)]
        norm = v / np.abs(v[-1])
        mean = float(norm.mean())
        return (
            (mean - float(np.linspace(0, norm[-1], norm.size).mean()), mean),
            np.arange(v.size, dtype=float),
            v,
        )
    idx = np.r_[np.flatnonzero(np.diff(s[order])), s.size - 1]
    x, v = _prepend_origin((idx + 1).astype(float), np.cumsum(g)[idx])
    xp, vp = _prepend_origin(np.arange(1, g.size + 1, dtype=float), np.cumsum(np.sort(gamma)[::-1]))
    base = np.trapezoid([0.0, vp[-1]], [0.0, xp[-1]])
    coef = float((np.trapezoid(v, x) - base) / (np.trapezoid(vp, xp) - base))
    return (coef, coef), x, v


def _evaluate_aipw(
    cols: _frame.Columns,
    propensity: float | str | None,
    model: Any,
    params: dict[str, Any],
    gen: np.random.Generator,
    conf_level: float,
) -> EstimateSet:
    from truelift.uplift.learners import MetaLearner

    if cols.X.shape[1] == 0:
        raise DesignError("adjustment='aipw' needs covariates= for the outcome models.")
    t, y, s = cols["treatment"], cols["outcome"], cols["score"]
    known = known_propensity(cols, propensity)
    ml = MetaLearner("t", model, random_state=int(gen.integers(0, 2**31 - 1)))
    ml.fit(cols.X, t, y, propensity=known)
    g1, g0 = ml.nuisance_.aipw_scores(t, y)
    gamma = g1 - g0
    conv = params["convention"]
    values, x, v = _gain_coefficients(gamma, s, conv)
    boot = np.empty((params["n_boot"], 2))
    for b in range(params["n_boot"]):
        idx = gen.integers(0, s.size, size=s.size)
        boot[b] = _gain_coefficients(gamma[idx], s[idx], conv)[0]
    params["adjustment"] = "aipw (cross-fitted outcome models" + (
        ", known propensity)" if known is not None else ", cross-fitted logistic propensity)"
    )
    curves = {"qini": (x, v), "uplift": (x, v)}
    return _evaluation_result(cols, values, boot, curves, params, ml.nuisance_.e, conf_level)


def _as_xy(curve: Any, w: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(curve, tuple):
        return curve
    return np.r_[0.0, np.cumsum(w[np.argsort(-s, kind="stable")])], curve


def _evaluation_result(
    cols: _frame.Columns,
    values: tuple[float, float],
    boot: np.ndarray,
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    params: dict[str, Any],
    e: np.ndarray | None,
    conf_level: float,
) -> EstimateSet:
    conv = params["convention"]
    gain_sign = float(np.sign(curves["uplift"][1][-1])) or 1.0
    nulls = (0.0, 0.0 if conv == "sklift" else 0.5 * gain_sign)
    pre = "the AIPW analogue of " if params["adjustment"].startswith("aipw") else ""
    names: list[tuple[str, str, str]] = [
        (
            "qini",
            "Qini coefficient",
            pre + ("sklift qini_auc_score" if conv == "sklift" else "causalml qini_score"),
        ),
        (
            "auuc",
            "AUUC",
            pre + ("sklift uplift_auc_score" if conv == "sklift" else "causalml auuc_score"),
        ),
    ]
    n_ok = int(np.isfinite(boot[:, 0]).sum())
    inference = (
        f"bootstrap over users ({n_ok} resamples), normal interval; the normalised curve areas "
        "have no simple influence function"
    )
    estimates = []
    for j, (label, title, ref) in enumerate(names):
        se = float(np.nanstd(boot[:, j], ddof=1))
        lo, hi, p = interval(values[j], se, conf_level, null=nulls[j])
        estimates.append(
            (
                label,
                Estimate(
                    estimate=values[j],
                    std_error=se,
                    ci_low=lo,
                    ci_high=hi,
                    conf_level=conf_level,
                    p_value=p,
                    n_obs=cols.n_obs,
                    n_dropped=cols.n_dropped,
                    estimand=(
                        f"{title} of score {params['score']!r} for {params['treatment']} on "
                        f"{params['outcome']} ({conv} convention, as {ref}); random "
                        f"targeting scores {nulls[j]:g}"
                    ),
                    method=f"{title} ({conv} convention, adjustment: {params['adjustment']})",
                    params=params,
                    inference=inference,
                ),
            )
        )
    details = {
        "curves": {k: dict(zip(("x", "y"), _thin(*v), strict=True)) for k, v in curves.items()},
        "random_baseline": {"qini": nulls[0], "auuc": nulls[1]},
        "adjustment": params["adjustment"],
    }
    return EstimateSet(
        title=f"Uplift evaluation of {params['score']!r}",
        estimates=tuple(estimates),
        method=f"Qini / uplift curves ({conv} convention)",
        headline="qini",
        params=params,
        diagnostics=(_assignment_diagnostic(params["adjustment"], e),),
        details=details,
    )


def _assignment_diagnostic(how: str, e: np.ndarray | None) -> Diagnostic:
    if how.startswith("none (assumed"):
        return Diagnostic(
            "assignment",
            "warn",
            None,
            "treatment randomized in the evaluation sample",
            "Evaluated without adjustment, which is valid only on a randomized holdout. If users "
            "chose the feature, pass covariates= (or propensity=) for IPW-adjusted curves.",
            consequence="none",
        )
    if how.startswith(("ipw", "aipw")) and e is not None:
        extreme = float(np.mean((e < 0.02) | (e > 0.98)))
        return Diagnostic(
            "assignment",
            "fail" if extreme > 0.05 else "pass",
            extreme,
            "share of propensities outside [0.02, 0.98] <= 5%",
            f"Curves IPW-adjusted ({how}); {100 * extreme:.1f}% of users have extreme "
            "propensities.",
            consequence="downgrade",
        )
    return Diagnostic(
        "assignment",
        "pass",
        None,
        "treatment randomized in the evaluation sample",
        f"Adjustment: {how}.",
        consequence="none",
    )
