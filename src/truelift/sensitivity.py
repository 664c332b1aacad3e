"""Sensitivity of observational estimates to unobserved confounding.

* E-value (VanderWeele & Ding 2017): the minimum strength of association, on the risk-ratio
  scale, that an unobserved confounder would need with both treatment and outcome to explain the
  estimate (or its confidence bound) away: ``E = RR + sqrt(RR (RR - 1))`` for ``RR >= 1``.
  Risk differences are converted with the control risk; standardised mean differences with
  ``RR ~ exp(0.91 d)`` (VanderWeele 2017, following Chinn 2000).
* Robustness value and partial R^2 bounds (Cinelli & Hazlett 2020, "Making sense of
  sensitivity"): for the regression-adjusted estimate, ``RV_q`` is the partial R^2 a confounder
  would need with both treatment and outcome to reduce the estimate by ``100 q %``; the bias a
  confounder ``k`` times as strong as an observed covariate could cause is bounded by their
  formulas (benchmarking), which gives the verdict: *fragile* when a confounder as strong as the
  strongest observed covariate would make the interval include zero.
* Rosenbaum bounds (Rosenbaum 2002, ch. 4) for matched pairs: the Wilcoxon signed-rank test's
  worst-case p-value when hidden bias may change the odds of treatment within a pair by a factor
  Gamma, and the largest Gamma at which the effect stays significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from truelift import _frame
from truelift.errors import DataError, DesignError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate, Verdict

__all__ = [
    "EValue",
    "e_value",
    "e_value_diagnostic",
    "partial_r2",
    "robustness_value",
    "rosenbaum_bounds",
    "rosenbaum_diagnostic",
    "rosenbaum_gamma",
    "sensitivity",
]

Scale = Literal["rr", "rd", "smd"]


def _e(rr: float) -> float:
    rr = 1.0 / rr if rr < 1 else rr
    return float(rr + math.sqrt(rr * (rr - 1.0)))


@dataclass(frozen=True)
class EValue:
    """E-values of a point estimate and of the confidence bound closest to the null."""

    point: float
    ci: float
    rr: float
    message: str


def _to_rr(x: float, scale: str, baseline: float | None) -> float:
    if scale == "rr":
        if x <= 0:
            raise DataError(f"a risk ratio must be positive; got {x}.")
        return x
    if scale == "smd":
        return math.exp(0.91 * x)
    if baseline is None or not 0 < baseline < 1:
        raise DesignError("scale='rd' needs the control-arm risk as baseline, in (0, 1).")
    return max(baseline + x, 1e-12) / baseline


def e_value(
    estimate: float,
    ci_low: float | None = None,
    ci_high: float | None = None,
    *,
    scale: Scale = "rr",
    baseline: float | None = None,
    outcome: str = "the outcome",
    treatment: str = "treatment",
) -> EValue:
    """E-value of ``estimate`` and of its confidence interval (VanderWeele & Ding 2017).

    Args:
        scale: ``"rr"`` (risk ratio), ``"rd"`` (risk difference; needs ``baseline``, the control
            risk) or ``"smd"`` (difference in means divided by the outcome's SD).
    """
    if scale not in ("rr", "rd", "smd"):
        raise DesignError(f"scale must be one of 'rr', 'rd', 'smd'; got {scale!r}.")
    rr = _to_rr(estimate, scale, baseline)
    point = _e(rr)
    ci = point
    if ci_low is not None and ci_high is not None:
        lo, hi = _to_rr(ci_low, scale, baseline), _to_rr(ci_high, scale, baseline)
        ci = 1.0 if lo <= 1 <= hi else _e(lo if rr > 1 else hi)
    msg = (
        f"An unobserved confounder would need a risk ratio of {point:.2f} with both {treatment} "
        f"and {outcome} (beyond the measured covariates) to explain the estimate away, and "
        f"{ci:.2f} to move the confidence interval to include no effect."
    )
    if ci == 1.0:
        msg = (
            f"The confidence interval already includes no effect (E-value 1); the point estimate's "
            f"E-value is {point:.2f}."
        )
    return EValue(point=point, ci=ci, rr=rr, message=msg)


def e_value_diagnostic(
    result: Estimate, *, baseline: float | None = None, sd: float | None = None
) -> Diagnostic:
    """The E-value of an estimate as a diagnostic (information only; it never blocks).

    Binary outcomes: pass ``baseline`` (control risk) or rely on ``params['mean_control']``;
    continuous outcomes: pass the outcome's ``sd``.
    """
    p = result.params
    base = baseline if baseline is not None else p.get("mean_control")
    if sd is not None:
        ev = e_value(
            result.estimate / sd,
            result.ci_low / sd,
            result.ci_high / sd,
            scale="smd",
            outcome=str(p.get("outcome", "the outcome")),
            treatment=str(p.get("treatment", "treatment")),
        )
    elif base is not None and 0 < float(base) < 1:
        ev = e_value(
            result.estimate,
            result.ci_low,
            result.ci_high,
            scale="rd",
            baseline=float(base),
            outcome=str(p.get("outcome", "the outcome")),
            treatment=str(p.get("treatment", "treatment")),
        )
    else:
        raise DesignError(
            "e_value_diagnostic needs baseline= (binary outcome) or sd= (continuous)."
        )
    return Diagnostic(
        name="E-value",
        verdict="pass" if ev.ci > 1 else "warn",
        value=ev.point,
        threshold="information: confounding strength (risk ratio) needed to explain the effect away",
        message=ev.message,
        consequence="none",
        details={"e_value": ev.point, "e_value_ci": ev.ci, "risk_ratio": ev.rr},
    )


def partial_r2(t_stat: float, dof: float) -> float:
    """Partial R^2 of a regressor from its t-statistic: t^2 / (t^2 + dof)."""
    return float(t_stat**2 / (t_stat**2 + dof))


def robustness_value(
    t_stat: float, dof: float, q: float = 1.0, alpha: float | None = None
) -> float:
    """Cinelli & Hazlett (2020) robustness value RV_q (or RV_{q,alpha} with ``alpha``)."""
    fq = q * abs(t_stat) / math.sqrt(dof)
    f = fq
    if alpha is not None:
        fcrit = float(stats.t.ppf(1 - alpha / 2, dof - 1)) / math.sqrt(dof - 1)
        f = fq - fcrit
        if f <= 0:
            return 0.0
        if fq > 1 / fcrit:  # the bound on R2_{D~Z|X} does not bind (CH 2020, appendix)
            return float((fq**2 - fcrit**2) / (1 + fq**2))
    return float(0.5 * (math.sqrt(f**4 + 4 * f**2) - f**2))


def _bias_bound(
    se: float, dof: float, r2dxj: float, r2yxj: float, kd: float, ky: float
) -> tuple[float, float, float, float]:
    """CH (2020) bounds for a confounder kd/ky times as strong as covariate j: bias, se factor."""
    r2dz = kd * r2dxj / (1 - r2dxj)
    r2zxj = kd * r2dxj**2 / ((1 - kd * r2dxj) * (1 - r2dxj)) if kd * r2dxj < 1 else 1.0
    if r2dz >= 1 or r2zxj >= 1:
        return math.inf, math.inf, 1.0, 1.0
    r2yz = ((math.sqrt(ky) + math.sqrt(r2zxj)) / math.sqrt(1 - r2zxj)) ** 2 * (r2yxj / (1 - r2yxj))
    r2yz = min(r2yz, 1.0)
    bias = se * math.sqrt(dof) * math.sqrt(r2yz * r2dz / (1 - r2dz))
    se_adj = se * math.sqrt((1 - r2yz) / (1 - r2dz)) * math.sqrt(dof / (dof - 1))
    return bias, se_adj, r2dz, r2yz


def _rss(G: np.ndarray, cols: list[int], target: int) -> float:
    """Residual sum of squares of column ``target`` on columns ``cols``, from the Gram matrix."""
    A = G[np.ix_(cols, cols)]
    b = G[cols, target]
    coef = np.linalg.lstsq(A, b, rcond=None)[0]
    return float(G[target, target] - b @ coef)


def _group_partial_r2(G: np.ndarray, target: int, keep: list[int], group: list[int]) -> float:
    """Partial R^2 of ``group`` for ``target`` given ``keep`` (indices into the Gram matrix)."""
    full = _rss(G, keep + group, target)
    reduced = _rss(G, keep, target)
    return max(1.0 - full / reduced, 0.0) if reduced > 0 else 0.0


def _signed_rank(d: np.ndarray) -> tuple[float, np.ndarray]:
    d = d[d != 0]
    ranks = stats.rankdata(np.abs(d))
    return float(ranks[d > 0].sum()), ranks


def rosenbaum_bounds(
    differences: Sequence[float] | np.ndarray, gammas: Sequence[float] = (1, 1.25, 1.5, 2, 3)
) -> list[dict[str, float]]:
    """Worst-case one-sided p-values of Wilcoxon's signed-rank test for matched-pair differences.

    The test is in the direction of the observed effect (differences are flipped if their sum is
    negative); normal approximation with average ranks for ties (Rosenbaum 2002, sec. 4.3).
    """
    d = np.asarray(differences, dtype=float)
    if d.size == 0 or not np.isfinite(d).all():
        raise DataError("rosenbaum_bounds needs finite matched-pair differences.")
    if d.sum() < 0:
        d = -d
    T, ranks = _signed_rank(d)
    out = []
    for g in gammas:
        if g < 1:
            raise DesignError(f"Gamma must be >= 1; got {g}.")
        p = g / (1 + g)
        mean, var = p * ranks.sum(), p * (1 - p) * (ranks**2).sum()
        pval = float(stats.norm.sf((T - mean) / math.sqrt(var))) if var > 0 else 1.0
        out.append({"gamma": float(g), "p_upper": pval})
    return out


def rosenbaum_gamma(differences: Sequence[float] | np.ndarray, alpha: float = 0.05) -> float:
    """The largest Gamma at which the matched effect stays significant at level ``alpha``."""
    if rosenbaum_bounds(differences, [1.0])[0]["p_upper"] > alpha:
        return 1.0
    lo, hi = 0.0, math.log(1000.0)
    if rosenbaum_bounds(differences, [1000.0])[0]["p_upper"] <= alpha:
        return 1000.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if rosenbaum_bounds(differences, [math.exp(mid)])[0]["p_upper"] <= alpha:
            lo = mid
        else:
            hi = mid
    return float(math.exp(lo))


FRAGILE_GAMMA = 1.25


def rosenbaum_diagnostic(differences: np.ndarray, alpha: float = 0.05) -> Diagnostic:
    """Rosenbaum's critical Gamma for matched pairs, in words (information; never blocks)."""
    g = rosenbaum_gamma(differences, alpha)
    verdict: Verdict = "pass" if g >= FRAGILE_GAMMA else "warn"
    if g <= 1.0:
        msg = "The matched pairs do not show a significant effect even without hidden bias."
    else:
        msg = (
            f"The matched effect stays significant (one-sided {alpha:g}) unless an unobserved "
            f"confounder changes the odds of treatment within a matched pair by more than a "
            f"factor of {g:.2f} (Rosenbaum's Gamma)."
            + (
                " That is fragile: even modest hidden bias would explain it."
                if g < FRAGILE_GAMMA
                else ""
            )
        )
    return Diagnostic(
        name="Rosenbaum bounds",
        verdict=verdict,
        value=g,
        threshold=f"critical Gamma >= {FRAGILE_GAMMA} (information)",
        message=msg,
        consequence="none",
        details={"bounds": rosenbaum_bounds(differences)},
    )


def _ols_classical(A: np.ndarray, y: np.ndarray, j: int) -> tuple[float, float, int]:
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    dof = A.shape[0] - A.shape[1]
    if dof < 2:
        raise DataError("too few observations for the regression-adjusted sensitivity analysis.")
    XtX_inv = np.linalg.pinv(A.T @ A)
    se = math.sqrt(float(resid @ resid) / dof * XtX_inv[j, j])
    return float(coef[j]), se, dof


def _groups(covariates: list[str], names: tuple[str, ...]) -> dict[str, list[int]]:
    return {
        c: [i for i, nm in enumerate(names) if nm == c or nm.startswith(f"{c}[")]
        for c in covariates
    }


def _benchmarks(
    t: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    groups: dict[str, list[int]],
    est: float,
    se: float,
    dof: int,
    kd: float,
    ky: float,
    conf_level: float,
) -> list[dict[str, Any]]:
    tcrit = float(stats.t.ppf(0.5 + conf_level / 2, dof - 1))
    Z = np.column_stack([np.ones(t.size), t, X, y])
    G = Z.T @ Z
    rows = []
    for name, cols in groups.items():
        # Gram matrix columns: 0 intercept, 1 treatment, 2.. covariates, last outcome
        others = [2 + j for j in range(X.shape[1]) if j not in cols]
        group = [2 + j for j in cols]
        r2d = _group_partial_r2(G, 1, [0, *others], group)
        r2y = _group_partial_r2(G, G.shape[0] - 1, [0, 1, *others], group)
        bias, se_adj, r2dz, r2yz = _bias_bound(se, dof, min(r2d, 0.999), min(r2y, 0.999), kd, ky)
        adj = est - math.copysign(bias, est) if math.isfinite(bias) else math.nan
        rows.append(
            {
                "covariate": name,
                "r2_treatment": r2d,
                "r2_outcome": r2y,
                "r2dz_x": r2dz,
                "r2yz_dx": r2yz,
                "adjusted_estimate": adj,
                "adjusted_ci": [adj - tcrit * se_adj, adj + tcrit * se_adj],
            }
        )
    return rows


def _benchmark_diagnostic(
    rows: list[dict[str, Any]], est: float, kd: float, ky: float
) -> Diagnostic:
    def damage(r: dict[str, Any]) -> float:
        adj = r["adjusted_estimate"]
        return math.copysign(1.0, est) * adj if math.isfinite(adj) else -math.inf

    worst = min(rows, key=damage)
    lo, hi = worst["adjusted_ci"]
    adj = worst["adjusted_estimate"]
    fragile = not math.isfinite(adj) or lo <= 0 <= hi or (adj * est < 0)
    strength = f"{kd:g}x (treatment) / {ky:g}x (outcome) as strong as {worst['covariate']!r}"
    if fragile:
        msg = (
            f"Fragile: an unobserved confounder {strength} would move the estimate to {adj:.4g} "
            f"with interval [{lo:.4g}, {hi:.4g}], which includes no effect. Collect the missing "
            "confounder, or use a design that does not rely on measured confounding alone."
        )
    else:
        msg = (
            f"Robust to a confounder {strength}: the estimate would be {adj:.4g} "
            f"[{lo:.4g}, {hi:.4g}], still excluding no effect."
        )
    return Diagnostic(
        name="confounding benchmark",
        verdict="fail" if fragile else "pass",
        value=adj if math.isfinite(adj) else None,
        threshold=f"interval excludes 0 under a confounder {kd:g}x/{ky:g}x the strongest covariate",
        message=msg,
        consequence="downgrade",
        details={"benchmarks": rows, "fragile": fragile},
    )


def _outcome_e_value(
    t: np.ndarray, y: np.ndarray, fit: tuple[float, float, float], outcome: str, treatment: str
) -> EValue:
    """E-value on the risk-difference scale for a binary outcome, else on the SMD scale."""
    est, lo, hi = fit
    base = float(y[t == 0].mean())
    if bool(np.isin(y, (0.0, 1.0)).all()) and 0 < base < 1:
        return e_value(est, lo, hi, scale="rd", baseline=base, outcome=outcome, treatment=treatment)
    sd = float(y.std())
    return e_value(est / sd, lo / sd, hi / sd, scale="smd", outcome=outcome, treatment=treatment)


def _rv_diagnostic(
    rv: float, rva: float, q: float, r2: float, treatment: str, outcome: str
) -> Diagnostic:
    return Diagnostic(
        name="robustness value",
        verdict="pass" if rva > 0 else "warn",
        value=rv,
        threshold="information (Cinelli & Hazlett 2020)",
        message=(
            f"An unobserved confounder would have to explain {rv:.1%} of the residual variance of "
            f"both {treatment} and {outcome} to reduce the estimate by {q:.0%}, and {rva:.1%} to "
            "make it statistically insignificant."
        ),
        consequence="none",
        details={"rv_q": rv, "rv_q_alpha": rva, "partial_r2_treatment": r2},
    )


def sensitivity(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    kd: float = 1.0,
    ky: float | None = None,
    q: float = 1.0,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Regression-adjusted effect with Cinelli–Hazlett sensitivity and its E-value.

    Fits ``outcome ~ treatment + covariates`` by OLS (classical SE, as in sensemakr), reports
    the robustness values RV_q and RV_{q,alpha}, benchmarks a confounder ``kd``/``ky`` times as
    strong as each observed covariate (all levels of a categorical together), and says *fragile*
    (downgrading the headline) when such a confounder, benchmarked on the strongest covariate,
    would make the interval include zero.
    """
    covs = [covariates] if isinstance(covariates, str) else list(covariates or [])
    if not covs:
        raise DesignError("sensitivity needs the covariates that were adjusted for.")
    ky = kd if ky is None else ky
    if kd <= 0 or ky <= 0 or q <= 0:
        raise DesignError("kd, ky and q must be positive.")
    cols = _frame.load(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome},
        covariates=covs,
        missing=missing,
    )
    t, y, X = cols["treatment"], cols["outcome"], cols.X
    A = np.column_stack([np.ones(t.size), t, X])
    est, se, dof = _ols_classical(A, y, 1)
    tstat = est / se
    alpha = 1 - conf_level
    rv, rva = robustness_value(tstat, dof, q), robustness_value(tstat, dof, q, alpha)
    rows = _benchmarks(t, y, X, _groups(covs, cols.X_names), est, se, dof, kd, ky, conf_level)
    lo, hi, p = interval(est, se, conf_level, df=dof)
    ev = _outcome_e_value(t, y, (est, lo, hi), outcome, treatment)
    rv_diag = _rv_diagnostic(rv, rva, q, partial_r2(tstat, dof), treatment, outcome)
    ev_diag = Diagnostic(
        name="E-value",
        verdict="pass" if ev.ci > 1 else "warn",
        value=ev.point,
        threshold="information (VanderWeele & Ding 2017)",
        message=ev.message,
        consequence="none",
        details={"e_value": ev.point, "e_value_ci": ev.ci},
    )
    bench = _benchmark_diagnostic(rows, est, kd, ky)
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        estimand=f"regression-adjusted effect of {treatment} on {outcome} (linear in the covariates)",
        method="OLS with Cinelli–Hazlett sensitivity analysis",
        params={
            "design": "sensitivity",
            "treatment": treatment,
            "outcome": outcome,
            "covariates": covs,
            "kd": kd,
            "ky": ky,
            "q": q,
            "dof": dof,
            "fragile": bool(bench.details["fragile"]),
        },
        diagnostics=(bench, rv_diag, ev_diag),
        inference="classical OLS standard error, Student t interval",
        details={
            "benchmarks": rows,
            "rv_q": rv,
            "rv_q_alpha": rva,
            "e_value": ev.point,
            "e_value_ci": ev.ci,
        },
    )
