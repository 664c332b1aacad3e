"""The 2x2 difference in differences (Card & Krueger 1994): two groups, two periods.

From cell means with an influence-function SE, or, with covariates, from the regression
``y ~ treated + post + treated:post + X`` (HC1, or CR1 with clusters and a t(G-1) interval).
Works on panels and on repeated cross-sections, and on lazy tables (DuckDB, polars lazy, Spark),
where only per-cell (and per-cluster) counts and sums leave the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from truelift import _frame
from truelift.did._common import cluster_diagnostic
from truelift.did._engine import cells_2x2 as _engine_cells_2x2
from truelift.did._engine import collect as _engine_collect
from truelift.did._engine import prepare as _engine_prepare
from truelift.engines import engine_name as _engine_name
from truelift.engines import lazy_frame
from truelift.errors import DataError, IdentificationError
from truelift.inference import interval, ols
from truelift.result import Diagnostic, Estimate

__all__ = ["did_2x2"]


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


_CELLS = ("control_pre", "control_post", "treated_pre", "treated_post")  # index 2*treated + post
_SIGN = np.array([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class CellStats:
    """Counts, sums and sums of squared deviations from the cell mean (``m2``) of the outcome per
    cell (index ``2*treated + post``) and, with clusters, counts and sums per cluster and cell:
    all the 2x2 kernel needs. (Deviations, not sums of squares: ``ss - n m^2`` loses the variance
    to cancellation when the outcome's mean is large next to its spread.)"""

    n: np.ndarray
    s: np.ndarray
    m2: np.ndarray
    cl_n: np.ndarray | None = None  # (G, 4)
    cl_s: np.ndarray | None = None  # (G, 4)


def cell_stats(y: np.ndarray, d: np.ndarray, p: np.ndarray, cl: np.ndarray | None) -> CellStats:
    """The in-memory feed of :func:`did_from_cells`."""
    cell = (2 * d + p).astype(np.int64)
    n = np.bincount(cell, minlength=4).astype(float)
    s = np.bincount(cell, weights=y, minlength=4)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = y - (s / n)[cell]
    m2 = np.bincount(cell, weights=dev * dev, minlength=4)
    if cl is None:
        return CellStats(n, s, m2)
    codes = np.unique(cl, return_inverse=True)[1].ravel()
    G = int(codes.max()) + 1
    key = codes * 4 + cell
    cl_n = np.bincount(key, minlength=4 * G).reshape(G, 4).astype(float)
    cl_s = np.bincount(key, weights=y, minlength=4 * G).reshape(G, 4)
    return CellStats(n, s, m2, cl_n, cl_s)


def did_from_cells(st: CellStats) -> tuple[float, float, dict[str, float], int | None]:
    """Cell-mean DiD and its influence-function SE from :class:`CellStats` (one kernel, fed by
    arrays or by engine sums). psi_i = sign_c (y_i - m_c) n / n_c for row i in cell c, so
    sum psi^2 = sum_c (n/n_c)^2 m2_c (m2_c: squared deviations from m_c) and a cluster's sum of
    psi is sum_c sign_c (n/n_c) (S_gc - N_gc m_c); SE = sqrt(sum psi^2)/n or CR1 over clusters."""
    empty = [_CELLS[c] for c in range(4) if st.n[c] == 0]
    if empty:
        raise IdentificationError(
            f"the 2x2 design needs all four cells; no rows in {', '.join(empty)}. Check the "
            "treated and post columns."
        )
    m = st.s / st.n
    n = float(st.n.sum())
    est = float(_SIGN @ m)
    if st.cl_n is None or st.cl_s is None:
        var = float(np.sum(st.m2 / st.n**2))
        return est, float(np.sqrt(var)), dict(zip(_CELLS, m.tolist(), strict=True)), None
    sg = ((st.cl_s - st.cl_n * m) * (_SIGN * n / st.n)).sum(axis=1)
    G = int(sg.shape[0])
    if G < 2:
        raise DataError("cluster-robust variance needs at least 2 clusters; found 1.")
    se = float(np.sqrt(G / (G - 1) * np.sum(sg**2)) / n)
    return est, se, dict(zip(_CELLS, m.tolist(), strict=True)), G


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
    lf = lazy_frame(data)
    engine, transferred = "in-memory", None
    if lf is not None and not covariates:
        src = _engine_prepare(
            lf, {"outcome": outcome, "treated": treated, "post": post, "cluster": cluster}, missing
        )
        st = CellStats(*_engine_cells_2x2(src, cluster is not None))
        n_obs, n_dropped = None, src.n_dropped
        engine, transferred = (
            src.engine,
            "per-cell count, sum and sum of squares"
            + (" and per-cluster, per-cell count and sum" if cluster else ""),
        )
    else:
        if lf is not None:
            data = _engine_collect(lf, [outcome, treated, post, *(covariates or []), cluster])
            engine = f"{_engine_name(lf)} (rows collected: covariates need the OLS on rows)"
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
        st, n_obs, n_dropped = cell_stats(y, d, p, cl), cols.n_obs, cols.n_dropped
    raw, se_cells, means, G = did_from_cells(st)
    n_obs = int(st.n.sum()) if n_obs is None else n_obs
    diags = [_untestable_trends()]
    df_t: float | None = None
    if covariates:
        X = np.column_stack([np.ones_like(y), d, p, d * p, cols.X])
        fit = ols(X, y, vce="hc1", cluster=cl)
        est, se = float(fit.coef[3]), float(fit.se[3])
        df_t = fit.df_resid
        G = None if cl is None else int(np.unique(cl).size)
        method, inference = "2x2 DiD regression with covariates", f"OLS, {fit.vce} SE"
    else:
        est, se = raw, se_cells
        method, inference = "2x2 DiD of cell means", "influence function SE"
        if G is not None:
            df_t = float(G - 1)
    if G is not None:
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
        n_obs=n_obs,
        n_dropped=n_dropped,
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
            "engine": engine,
        },
        diagnostics=tuple(diags),
        inference=inference,
        details={
            "cell_means": means,
            "cell_n": {k: int(v) for k, v in zip(_CELLS, st.n, strict=True)},
            "did_cell_means": raw,
            **({"transferred": transferred} if transferred else {}),
        },
    )
