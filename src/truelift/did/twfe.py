"""The 2x2 difference in differences and two-way fixed effects (TWFE) regression.

``did_2x2`` compares the before/after change of a treated group with that of a control group
(Card & Krueger 1994), from cell means or, with covariates, from the regression
``y ~ treated + post + treated:post + X``. ``twfe`` regresses the outcome on a treatment indicator
with unit and time fixed effects, absorbed by the within transformation computed with alternating
projections (Gaure 2013; Correia 2016) rather than dummy columns, so it scales to millions of rows.

Inference: cluster-robust (CR1) covariance with the small-sample factor
``G/(G-1) * (n-1)/(n-K)`` and a t(G-1) reference distribution (Stata, fixest; Cameron & Miller
2015). ``fe_dof="full"`` counts every fixed-effect level in K (Stata ``regress`` with dummies,
R ``lm`` + ``sandwich::vcovCL``, fixest ``ssc(fixef.K="full")``); ``"nested"`` drops fixed effects
nested in the clusters (fixest's default, ``reghdfe``). With few clusters the wild cluster
bootstrap (Cameron, Gelbach & Miller 2008; Webb 2023 six-point weights; MacKinnon, Nielsen & Webb
2023) imposes the null (WCR) for the p-value and inverts the test for the interval.

Under staggered adoption with effects that change over time, TWFE is a weighted average of 2x2
comparisons with possibly negative weights (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille
2020): see :mod:`truelift.did.bacon` and ``truelift.did.did`` (Callaway & Sant'Anna 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.errors import ConvergenceError, DataError, DesignError, IdentificationError
from truelift.inference import if_se, interval, ols
from truelift.result import Diagnostic, Estimate, Verdict

__all__ = ["did_2x2", "twfe"]

FeDof = Literal["full", "nested"]
BootWeights = Literal["rademacher", "webb"]
FEW_CLUSTERS = (
    30  # below: warn; asymptotic cluster-robust tests over-reject (Cameron & Miller 2015)
)
VERY_FEW_CLUSTERS = 10  # below: the asymptotic SE is unreliable; the headline is downgraded


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DesignError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}."
        )


# ----------------------------------------------------------------------------- data


def dense_codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..L-1 and sorted levels of integer-valued ``x``: O(n) when the range is
    at most a few times n (ids, weeks, years), else sort-based."""
    xi = x.astype(np.int64)
    lo, hi = int(xi.min()), int(xi.max())
    span = hi - lo + 1
    if span <= 4 * xi.size + 1024:
        off = xi - lo if lo else xi
        present = np.zeros(span, dtype=bool)
        present[off] = True
        if present.all():  # already dense (ids 0..N-1, contiguous weeks): no remapping
            return off, np.arange(lo, hi + 1)
        remap = np.cumsum(present) - 1
        return remap[off], np.flatnonzero(present) + lo
    levels, codes = np.unique(xi, return_inverse=True)
    return codes.ravel().astype(np.int64), levels


def load_panel(
    data: Any,
    *,
    keys: dict[str, str | None],
    numeric: dict[str, str | None] | None = None,
    **kwargs: Any,
) -> tuple[_frame.Columns, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`truelift._frame.load` with fast codes for integer key columns (unit, time, cluster).

    Integer keys are read as numeric roles and coded in O(n) (:func:`dense_codes`); other keys
    go through ``load``'s own coding. Returns the columns, codes and levels per key role.
    """
    df = _frame.to_frame(data)
    fast: dict[str, str] = {}
    slow: dict[str, str | None] = {}
    for role, name in keys.items():
        if name is None:
            continue
        if isinstance(name, str) and name in df.columns and df[name].dtype.is_integer():
            fast[role] = name
        else:
            slow[role] = name
    extra = {f"__key_{role}": name for role, name in fast.items()}
    cols = _frame.load(data, numeric={**(numeric or {}), **extra}, keys=slow, **kwargs)
    codes: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}
    for role in fast:
        codes[role], levels[role] = dense_codes(cols[f"__key_{role}"])
    for role in slow:
        codes[role], levels[role] = cols[role], cols.levels[role]
    return cols, codes, levels


# ----------------------------------------------------------------------------- kernels


def _demean_vec(
    v: np.ndarray,
    groups: list[np.ndarray],
    counts: list[np.ndarray],
    one_sweep: bool,
    tol: float,
    maxiter: int,
) -> np.ndarray:
    scale = max(float(np.abs(v).max()), 1.0) if v.size else 1.0
    for _ in range(maxiter):
        change = 0.0
        for g, c in zip(groups, counts, strict=True):
            m = np.bincount(g, weights=v, minlength=c.size) / c
            v -= m[g]
            change = max(change, float(np.abs(m).max()))
        if one_sweep or change <= tol * scale:
            return v
    raise ConvergenceError(
        f"the fixed-effect projections did not converge in {maxiter} sweeps; the panel may "
        "be badly connected. Check for units observed in one period only."
    )


def is_balanced(groups: list[np.ndarray]) -> bool:
    """True for one fixed effect, or two that form a balanced panel (each pair exactly once)."""
    if len(groups) <= 1:
        return True
    if len(groups) > 2:
        return False
    a, b = groups
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    return a.size == na * nb and bool(np.all(np.bincount(a * nb + b, minlength=na * nb) == 1))


Layout = tuple[bool, tuple[int, int] | None]


def panel_layout(groups: list[np.ndarray]) -> Layout:
    """(one sweep is exact, (N, T) if the rows are a balanced panel sorted by unit then time)."""
    if len(groups) == 2:
        a, b = groups
        na, nb = int(a.max()) + 1, int(b.max()) + 1
        if a.size == na * nb:
            A, B = a.reshape(na, nb), b.reshape(na, nb)
            if (np.arange(na)[:, None] == A).all() and (np.arange(nb)[None, :] == B).all():
                return True, (na, nb)
    return is_balanced(groups), None


def _demean_sorted(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    Y = v.reshape(shape)
    out = Y - Y.mean(axis=1, keepdims=True)
    out -= out.mean(axis=0, keepdims=True)
    return out.ravel()


def demean(
    M: np.ndarray,
    groups: list[np.ndarray],
    *,
    tol: float = 1e-10,
    maxiter: int = 10_000,
    layout: Layout | None = None,
) -> np.ndarray:
    """Residuals of the columns of ``M`` on the fixed effects ``groups`` (integer codes).

    Alternating projections (Gaure 2013): subtract group means of each fixed effect in turn until
    no group mean exceeds ``tol`` times the column's scale. One sweep is exact for one fixed
    effect and for a balanced two-way panel; a balanced panel sorted by unit then time is
    demeaned as an N x T matrix (row then column means). ``layout``: :func:`panel_layout`.
    """
    one, shape = panel_layout(groups) if layout is None else layout
    arr = np.asarray(M, dtype=np.float64)
    if shape is not None:
        if arr.ndim == 1:
            return _demean_sorted(arr, shape)
        return np.column_stack([_demean_sorted(arr[:, j], shape) for j in range(arr.shape[1])])
    counts = [np.maximum(np.bincount(g).astype(np.float64), 1.0) for g in groups]
    if arr.ndim == 1:
        return _demean_vec(arr.copy(), groups, counts, one, tol, maxiter)
    out = np.empty(arr.shape, order="F")
    for j in range(arr.shape[1]):
        out[:, j] = _demean_vec(np.array(arr[:, j]), groups, counts, one, tol, maxiter)
    return out


def _cluster_sum(M: np.ndarray, cluster: np.ndarray, G: int) -> np.ndarray:
    """Column sums of ``M`` (n x k) within clusters 0..G-1 (bincount per column: fast)."""
    return np.column_stack(
        [np.bincount(cluster, weights=M[:, j], minlength=G) for j in range(M.shape[1])]
    )


@dataclass(frozen=True)
class FEFit:
    """Coefficients and CR1 covariance of an OLS fit with absorbed fixed effects."""

    coef: np.ndarray
    vcov: np.ndarray
    resid: np.ndarray
    Xt: np.ndarray  # the within-transformed regressors
    n_obs: int
    n_params: int  # K used in the small-sample factor
    n_clusters: int

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))


def _fe_count(groups: list[np.ndarray], cluster: np.ndarray, fe_dof: FeDof) -> int:
    """Fixed-effect parameters counted in K (one level of every extra counted dimension is
    redundant). ``"nested"`` skips dimensions nested in the clusters (pyfixest/fixest default)."""
    k, counted = 0, 0
    for g in groups:
        levels = int(g.max()) + 1
        nested = False
        if fe_dof == "nested" and g is cluster:
            nested = True  # clustering by this fixed effect itself
        elif fe_dof == "nested":
            first = np.full(levels, -1)
            first[g] = cluster  # the last cluster seen per level
            nested = bool(np.all(first[g] == cluster))
        if not nested:
            k += levels - (1 if counted else 0)
            counted += 1
    return k


def fe_ols(
    y: np.ndarray,
    X: np.ndarray,
    groups: list[np.ndarray],
    cluster: np.ndarray,
    *,
    fe_dof: FeDof = "full",
) -> FEFit:
    """OLS of ``y`` on ``X`` with the fixed effects ``groups`` absorbed; CR1 covariance."""
    layout = panel_layout(groups)
    yt = demean(y, groups, layout=layout)
    Xt = demean(X, groups, layout=layout)
    XtX = Xt.T @ Xt
    if Xt.shape[1] == 0 or np.linalg.matrix_rank(XtX) < Xt.shape[1]:
        raise IdentificationError(
            "a regressor does not vary within units and periods after removing the fixed effects "
            "(e.g. a treatment that every unit adopts at the same time, or a time-invariant "
            "covariate); its effect is not identified by the two-way fixed-effects model."
        )
    bread = np.linalg.inv(XtX)
    coef = bread @ (Xt.T @ yt)
    resid = yt - Xt @ coef
    scores = _cluster_sum(Xt * resid[:, None], cluster, int(cluster.max()) + 1)
    G = int(np.count_nonzero(np.bincount(cluster)))
    if G < 2:
        raise DataError("cluster-robust variance needs at least 2 clusters; found 1.")
    n = y.size
    K = Xt.shape[1] + _fe_count(groups, cluster, fe_dof)
    if n <= K:
        raise DataError(f"{n} observations cannot identify {K} parameters.")
    factor = (G / (G - 1)) * ((n - 1) / (n - K))
    vcov = factor * bread @ (scores.T @ scores) @ bread
    return FEFit(coef, vcov, resid, Xt, n, K, G)


def _boot_weights(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=shape)
    s = np.sqrt(np.array([0.5, 1.0, 1.5]))
    return rng.choice(np.concatenate([-s, s]), size=shape)


def wild_cluster_bootstrap(
    fit: FEFit,
    y: np.ndarray,
    groups: list[np.ndarray],
    cluster: np.ndarray,
    *,
    n_boot: int,
    weights: str,
    rng: np.random.Generator,
    conf_level: float,
) -> tuple[float, float, float]:
    """Restricted wild cluster bootstrap-t (WCR) for the first coefficient of ``fit``.

    Returns ``(p_value, ci_low, ci_high)``: the p-value of H0: beta = 0 and the interval from
    inverting the test. The restricted residuals are linear in the null value r, so every draw is
    stored as per-cluster score pieces (P_g - r Q_g) and the test is inverted in closed form over
    a grid refined by bisection (Roodman, MacKinnon, Nielsen & Webb 2019).
    """
    x = fit.Xt[:, 0]
    others = fit.Xt[:, 1:]
    layout = panel_layout(groups)
    yt = demean(y, groups, layout=layout)
    if others.shape[1]:  # partial the other regressors out (Frisch-Waugh-Lovell)
        proj = np.linalg.lstsq(others, np.column_stack([yt, x]), rcond=None)[0]
        yt = yt - others @ proj[:, 0]
        x = x - others @ proj[:, 1]
    xx = float(x @ x)
    a, b = yt, x  # restricted residuals at null r: a - r b
    G = int(cluster.max()) + 1
    v = _boot_weights(weights, (G, n_boot), rng)
    n, K = fit.n_obs, fit.n_params
    kappa = (G / (G - 1)) * ((n - 1) / (n - K))
    P = np.zeros((G, n_boot))
    Q = np.zeros((G, n_boot))
    ca, cb = np.zeros(n_boot), np.zeros(n_boot)
    xa_g = np.bincount(cluster, weights=x * a, minlength=G)
    xb_g = np.bincount(cluster, weights=x * b, minlength=G)
    for lo in range(0, n_boot, 64):
        vb = v[:, lo : lo + 64]
        W = vb[cluster]  # n x chunk cluster weights
        for src, out_s, out_c, xs_g in ((a, P, ca, xa_g), (b, Q, cb, xb_g)):
            Mw = demean(W * src[:, None], groups, layout=layout)
            if others.shape[1]:
                Mw -= others @ np.linalg.lstsq(others, Mw, rcond=None)[0]
            c = (vb * xs_g[:, None]).sum(axis=0) / xx  # x'(v*src)/x'x
            S = _cluster_sum(x[:, None] * Mw, cluster, G)
            out_s[:, lo : lo + 64] = (
                S - np.bincount(cluster, weights=x * x, minlength=G)[:, None] * c[None, :]
            )
            out_c[lo : lo + 64] = c
    beta, se = float(fit.coef[0]), float(fit.se[0])
    PP, PQ, QQ = (P * P).sum(axis=0), (P * Q).sum(axis=0), (Q * Q).sum(axis=0)

    def pval(r: float) -> float:
        num = ca - r * cb
        var = kappa * (PP - 2 * r * PQ + r * r * QQ) / xx**2
        t_star = num / np.sqrt(np.maximum(var, 1e-300))
        t = (beta - r) / se
        return float(np.mean(np.abs(t_star) >= abs(t)))

    alpha = 1 - conf_level

    def bound(direction: float) -> float:
        inside, step = beta, se * direction
        outside = beta + step
        for _ in range(60):
            if pval(outside) < alpha:
                break
            inside, outside = outside, outside + 2 * (outside - inside)
        for _ in range(50):
            mid = 0.5 * (inside + outside)
            inside, outside = (mid, outside) if pval(mid) >= alpha else (inside, mid)
        return 0.5 * (inside + outside)

    return pval(0.0), bound(-1.0), bound(1.0)


# ----------------------------------------------------------------------------- diagnostics


def cluster_diagnostic(n_clusters: int, bootstrap: bool) -> Diagnostic:
    """Too few clusters for the asymptotic cluster-robust SE (Cameron & Miller 2015)."""
    verdict: Verdict
    if bootstrap:
        verdict, msg = "pass", "the wild cluster bootstrap is used for the p-value and interval."
    elif n_clusters < VERY_FEW_CLUSTERS:
        verdict = "fail"
        msg = (
            f"only {n_clusters} clusters: cluster-robust tests over-reject badly; pass "
            "wild_bootstrap=True (webb weights below ~12 clusters)."
        )
    elif n_clusters < FEW_CLUSTERS:
        verdict = "warn"
        msg = f"{n_clusters} clusters: consider wild_bootstrap=True for reliable inference."
    else:
        verdict, msg = "pass", f"{n_clusters} clusters."
    return Diagnostic(
        name="number of clusters",
        verdict=verdict,
        value=float(n_clusters),
        threshold=f">= {FEW_CLUSTERS} clusters (fail below {VERY_FEW_CLUSTERS}) or bootstrap",
        message=msg,
        consequence="downgrade",
    )


def _untestable_trends() -> Diagnostic:
    return Diagnostic(
        name="parallel trends",
        verdict="warn",
        value=None,
        threshold="several pre-periods needed to test",
        message=(
            "With one pre-period, parallel trends cannot be checked; use event_study() on data "
            "with several pre-periods to test for differential pre-trends."
        ),
        consequence="none",
    )


# ----------------------------------------------------------------------------- did_2x2


def _cells(y: np.ndarray, d: np.ndarray, p: np.ndarray) -> dict[str, tuple[float, int]]:
    out = {}
    for name, dv, pv in (("control_pre", 0, 0), ("control_post", 0, 1), ("treated_pre", 1, 0)):
        m = (d == dv) & (p == pv)
        out[name] = (float(y[m].mean()) if m.any() else float("nan"), int(m.sum()))
    m = (d == 1) & (p == 1)
    out["treated_post"] = (float(y[m].mean()) if m.any() else float("nan"), int(m.sum()))
    empty = [k for k, (_, c) in out.items() if c == 0]
    if empty:
        raise IdentificationError(
            f"the 2x2 design needs all four cells; no rows in {', '.join(empty)}. Check the "
            "treated and post columns."
        )
    return out


def did_2x2(
    data: Any,
    *,
    outcome: str,
    treated: str,
    post: str,
    covariates: list[str] | None = None,
    cluster: str | None = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Difference in differences of two groups and two periods.

    Without covariates the estimate is the difference of cell-mean changes
    ``(treated_post - treated_pre) - (control_post - control_pre)`` with an influence-function SE
    (clustered CR1 with ``cluster``). With ``covariates`` it is the ``treated:post`` coefficient of
    the OLS ``outcome ~ treated + post + treated:post + covariates`` with HC1 or, with
    ``cluster``, CR1 standard errors (Stata convention, t(G-1) interval). Works on panels and on
    repeated cross-sections; on a panel pass ``cluster=<unit column>`` (or a coarser group),
    since a unit's pre and post rows are correlated and unclustered SEs would be too small.
    """
    cols = _frame.load(
        data,
        binary={"treated": treated, "post": post},
        numeric={"outcome": outcome},
        keys={"cluster": cluster},
        covariates=covariates,
        missing=missing,
        require_both=("treated", "post"),
    )
    y, d, p = cols["outcome"], cols["treated"], cols["post"]
    cl = cols["cluster"] if cluster else None
    cells = _cells(y, d, p)
    raw = (cells["treated_post"][0] - cells["treated_pre"][0]) - (
        cells["control_post"][0] - cells["control_pre"][0]
    )
    diags = [_untestable_trends()]
    df_t: float | None = None
    if covariates:
        X = np.column_stack([np.ones_like(y), d, p, d * p, cols.X])
        fit = ols(X, y, vce="hc1", cluster=cl)
        est, se = float(fit.coef[3]), float(fit.se[3])
        df_t = fit.df_resid
        method, inference = "2x2 DiD regression with covariates", f"OLS, {fit.vce} SE"
    else:
        est = raw
        psi = np.zeros_like(y)
        n = y.size
        for (dv, pv), sign in (((1, 1), 1), ((1, 0), -1), ((0, 1), -1), ((0, 0), 1)):
            m = (d == dv) & (p == pv)
            psi[m] = sign * (y[m] - y[m].mean()) * n / m.sum()
        se = if_se(psi, cl)
        method, inference = "2x2 DiD of cell means", "influence function SE"
        if cl is not None:
            df_t = float(np.unique(cl).size - 1)
    if cl is not None:
        G = int(np.unique(cl).size)
        diags.append(cluster_diagnostic(G, False))
        inference += f", clustered by {cluster} ({G} clusters, CR1), t({G - 1}) interval"
    else:
        inference += ", normal interval" if df_t is None else ", t interval"
    lo, hi, pv_ = interval(est, se, conf_level, df=df_t)
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=pv_,
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        estimand=(
            f"ATT on {outcome} of the {treated} group in the {post} period, under parallel trends"
            + (" conditional on covariates" if covariates else "")
        ),
        method=method,
        params={
            "design": "did",
            "estimator": "did_2x2",
            "outcome": outcome,
            "treated": treated,
            "post": post,
            "covariates": list(covariates or []),
            "cluster": cluster,
        },
        diagnostics=tuple(diags),
        inference=inference,
        details={
            "cell_means": {k: v[0] for k, v in cells.items()},
            "cell_n": {k: v[1] for k, v in cells.items()},
            "did_cell_means": raw,
        },
    )


# ----------------------------------------------------------------------------- twfe


def adoption(unit: np.ndarray, tcode: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, bool]:
    """First treated period code per unit (-1 = never treated) and whether treatment is absorbing."""
    n_units = int(unit.max()) + 1
    # fast path: if each unit's periods are contiguous, its last period is mean + (count - 1)/2
    # and, with absorbing adoption, its first treated period is last - (treated count) + 1;
    # verified below, with an exact (slower) fallback
    cnt = np.bincount(unit, minlength=n_units)
    mean_t = np.bincount(unit, weights=tcode, minlength=n_units) / np.maximum(cnt, 1)
    last = np.rint(mean_t + (cnt - 1) / 2).astype(np.int64)
    k = np.bincount(unit, weights=d, minlength=n_units).astype(np.int64)
    first = np.where(k > 0, last - k + 1, -1)
    if not np.array_equal((first[unit] >= 0) & (tcode >= first[unit]), d == 1):
        big = np.iinfo(np.int64).max
        first = np.full(n_units, big)
        np.minimum.at(first, unit[d == 1], tcode[d == 1])
        first = np.where(first == big, -1, first)
    after = (first[unit] >= 0) & (tcode >= first[unit])
    return first, bool(np.all(after == (d == 1)))


def weights_diagnostic(xt: np.ndarray, d: np.ndarray, n_cohorts: int) -> Diagnostic:
    """Share of treated cells that TWFE weights negatively (de Chaisemartin & D'Haultfoeuille 2020)."""
    w = xt[d == 1]
    w = w / w.sum()
    neg = float(-w[w < 0].sum())
    staggered = n_cohorts > 1
    bad = staggered and neg > 0
    return Diagnostic(
        name="negative TWFE weights",
        verdict="warn" if bad else "pass",
        value=neg,
        threshold="no treated cell weighted negatively",
        message=(
            f"TWFE weights {100 * float((w < 0).mean()):.1f}% of treated observations negatively "
            f"(total negative weight {neg:.3f}) under staggered adoption ({n_cohorts} cohorts): "
            "with effects that change over time or differ by cohort the coefficient can be far "
            "from any average effect. Use did() (Callaway & Sant'Anna) and see bacon()."
            if bad
            else "every treated observation has a positive TWFE weight."
        ),
        consequence="none",
        details={"share_negative": float((w < 0).mean()), "n_cohorts": n_cohorts},
    )


def group_means(
    y: np.ndarray,
    unit: np.ndarray,
    tcode: np.ndarray,
    first: np.ndarray,
    times: np.ndarray,
    beta: float,
) -> dict[str, Any]:
    """Mean outcome by adoption cohort and period, and the TWFE counterfactual (mean - beta) in
    treated cells: the small arrays the group-means plot draws. Never-treated cohort: ``None``."""
    cohorts = np.unique(first)
    T = times.size
    key = np.searchsorted(cohorts, first)[unit] * T + tcode
    s = np.bincount(key, weights=y, minlength=cohorts.size * T).reshape(cohorts.size, T)
    c = np.bincount(key, minlength=cohorts.size * T).reshape(cohorts.size, T)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = s / c
    treated = (cohorts[:, None] >= 0) & (np.arange(T)[None, :] >= cohorts[:, None])
    cf = np.where(treated & (c > 0), means - beta, np.nan)
    return {
        "times": times.tolist(),
        "cohorts": [None if k < 0 else times[k].item() for k in cohorts],
        "means": means.tolist(),
        "counterfactual": cf.tolist(),
    }


def twfe(
    data: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    cluster: str | None = None,
    covariates: list[str] | None = None,
    wild_bootstrap: bool = False,
    bootstrap_weights: BootWeights = "rademacher",
    n_boot: int = 999,
    rng: int | np.random.Generator | None = None,
    fe_dof: FeDof = "full",
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Two-way fixed-effects regression ``outcome ~ treatment + covariates | unit + time``.

    Unit and time effects are absorbed (alternating projections). Standard errors are clustered by
    ``cluster`` (default: ``unit``), CR1 with the ``G/(G-1)(n-1)/(n-K)`` factor (``fe_dof``
    decides whether fixed effects nested in clusters count in K) and a t(G-1) interval.
    ``wild_bootstrap=True`` replaces the p-value and interval by the restricted wild cluster
    bootstrap-t (``bootstrap_weights`` ``"rademacher"`` or ``"webb"``, ``n_boot`` draws, ``rng``).
    """
    _choice("fe_dof", fe_dof, ("full", "nested"))
    _choice("bootstrap_weights", bootstrap_weights, ("rademacher", "webb"))
    if wild_bootstrap and int(n_boot) < 99:
        raise DesignError(f"n_boot must be at least 99 for the wild bootstrap; got {n_boot}.")
    cols, codes, levels = load_panel(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome},
        keys={"unit": unit, "time": time, "cluster": cluster},
        covariates=covariates,
        missing=missing,
    )
    y, d = cols["outcome"], cols["treatment"]
    u, tc = codes["unit"], codes["time"]
    cl = codes["cluster"] if cluster else u
    groups = [u, tc]
    fit = fe_ols(y, np.column_stack([d, cols.X]), groups, cl, fe_dof=fe_dof)
    est, se = float(fit.coef[0]), float(fit.se[0])
    G = fit.n_clusters
    lo, hi, p = interval(est, se, conf_level, df=G - 1)
    inference = (
        f"cluster-robust (CR1, K={fit.n_params}) by {cluster or unit}, {G} clusters, t({G - 1})"
    )
    if wild_bootstrap:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        p, lo, hi = wild_cluster_bootstrap(
            fit,
            y,
            groups,
            cl,
            n_boot=int(n_boot),
            weights=bootstrap_weights,
            rng=gen,
            conf_level=conf_level,
        )
        inference = (
            f"restricted wild cluster bootstrap-t ({bootstrap_weights}, {n_boot} draws, {G} "
            f"clusters): p-value and test-inversion interval; SE is CR1"
        )
    first, absorbing = adoption(u, tc, d)
    n_cohorts = int(np.unique(first[first >= 0]).size)
    diags = [cluster_diagnostic(G, wild_bootstrap), weights_diagnostic(fit.Xt[:, 0], d, n_cohorts)]
    warnings_: list[str] = []
    if wild_bootstrap and bootstrap_weights == "rademacher" and G <= 13:
        warnings_.append(
            f"Rademacher weights on {G} clusters give only {2**G:,} distinct bootstrap draws; "
            "bootstrap_weights='webb' is recommended with so few clusters (Webb 2023)."
        )
    if not absorbing:
        warnings_.append(
            "treatment switches off for some units; TWFE still runs but event_study(), bacon() "
            "and did() need absorbing (staggered) adoption."
        )
    times = levels["time"]
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        estimand=(
            f"TWFE coefficient of {treatment} on {outcome} (unit and {time} effects): an ATT only "
            "if effects are constant across cohorts and over time"
        ),
        method="two-way fixed effects",
        params={
            "design": "did",
            "estimator": "twfe",
            "outcome": outcome,
            "unit": unit,
            "time": time,
            "treatment": treatment,
            "cluster": cluster or unit,
            "covariates": list(covariates or []),
            "wild_bootstrap": wild_bootstrap,
            "bootstrap_weights": bootstrap_weights if wild_bootstrap else None,
            "n_boot": int(n_boot) if wild_bootstrap else None,
            "fe_dof": fe_dof,
            "n_clusters": G,
        },
        diagnostics=tuple(diags),
        warnings=tuple(warnings_),
        inference=inference,
        details={
            "coef": dict(zip([treatment, *cols.X_names], fit.coef.tolist(), strict=True)),
            "se": dict(zip([treatment, *cols.X_names], fit.se.tolist(), strict=True)),
            "group_means": group_means(y, u, tc, first, times, est)
            if times.size <= 500 and n_cohorts <= 50
            else {},
        },
    )
