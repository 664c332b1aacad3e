"""Two-way fixed effects (TWFE) regression of an outcome on a treatment indicator.

``twfe`` regresses the outcome on a treatment indicator with unit and time fixed effects, absorbed
by the within transformation: in closed form without transformed rows for a balanced panel
(:mod:`truelift.did._panel`) or an unbalanced one with few gaps (:mod:`truelift.did._grid`),
otherwise on the rows (:mod:`truelift.did._fe`; Gaure 2013; Correia 2016).

Inference: cluster-robust (CR1) covariance with the small-sample factor
``G/(G-1) * (n-1)/(n-K)`` and a t(G-1) reference distribution (Stata, fixest; Cameron & Miller
2015). ``fe_dof="full"`` counts every fixed-effect level in K (Stata ``regress`` with dummies,
R ``lm`` + ``sandwich::vcovCL``, fixest ``ssc(fixef.K="full")``); ``"nested"`` drops fixed effects
nested in the clusters (fixest's default, ``reghdfe``). With few clusters the wild cluster
bootstrap (Cameron, Gelbach & Miller 2008; Webb 2023 six-point weights; MacKinnon, Nielsen & Webb
2023) imposes the null (WCR) for the p-value and inverts the test for the interval
(:mod:`truelift.did._wild`). On a lazy table (DuckDB, polars lazy, Spark) the Gram matrix and
the per-cluster scores are summed in the engine (:mod:`truelift.did._engine`).

Under staggered adoption with effects that change over time, TWFE is a weighted average of 2x2
comparisons with possibly negative weights (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille
2020): see :mod:`truelift.did.bacon` and ``truelift.did.did`` (Callaway & Sant'Anna 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift._parallel import single_threaded_blas
from truelift.did import _engine
from truelift.did._common import FeDof, _choice, adoption, cluster_diagnostic, load_panel
from truelift.did._engine import collect
from truelift.did._fe import FEFit, cr1, fe_ols, fe_param_count, solve_gram
from truelift.did._grid import grid_twfe
from truelift.did._panel import balanced_twfe, reordered_twfe
from truelift.did._wild import wild_cluster_bootstrap
from truelift.engines import engine_name, lazy_frame
from truelift.errors import DesignError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate

__all__ = ["twfe"]

BootWeights = Literal["rademacher", "webb"]


def weights_diagnostic(share_negative: float, neg: float, n_cohorts: int) -> Diagnostic:
    """Share of treated observations that TWFE weights negatively and their total weight
    (de Chaisemartin & D'Haultfoeuille 2020); the weights are the residualised treatment."""
    bad = n_cohorts > 1 and neg > 0
    return Diagnostic(
        name="negative TWFE weights",
        verdict="warn" if bad else "pass",
        value=neg,
        threshold="no treated cell weighted negatively",
        message=(
            f"TWFE weights {100 * share_negative:.1f}% of treated observations negatively "
            f"(total negative weight {neg:.3f}) under staggered adoption ({n_cohorts} cohorts): "
            "with effects that change over time or differ by cohort the coefficient can be far "
            "from any average effect. Use did() (Callaway & Sant'Anna) and see bacon()."
            if bad
            else "every treated observation has a positive TWFE weight."
        ),
        consequence="none",
        details={"share_negative": share_negative, "n_cohorts": n_cohorts},
    )


def negative_weights(xt: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """(share of treated rows with a negative TWFE weight, total negative weight) from rows."""
    w = xt[d == 1]
    w = w / w.sum()
    return float((w < 0).mean()), float(-w[w < 0].sum())


def cohort_cells(
    y: np.ndarray, unit: np.ndarray, tcode: np.ndarray, first: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count and outcome sum per (first treated period, period), first = NaN if never treated:
    the in-memory feed of :func:`group_means` (the engine feed is ``_engine.adoption_cells``)."""
    cohorts = np.unique(first)
    T = times.size
    key = np.searchsorted(cohorts, first)[unit] * T + tcode
    s = np.bincount(key, weights=y, minlength=cohorts.size * T)
    c = np.bincount(key, minlength=cohorts.size * T).astype(float)
    ci, ti = np.divmod(np.arange(cohorts.size * T), T)
    f = np.where(cohorts[ci] >= 0, times[np.maximum(cohorts[ci], 0)].astype(float), np.nan)
    keep = c > 0
    return f[keep], times[ti][keep].astype(float), c[keep], s[keep]


def group_means(
    f: np.ndarray, t: np.ndarray, n: np.ndarray, s: np.ndarray, beta: float
) -> dict[str, Any]:
    """Mean outcome by adoption cohort and period, and the TWFE counterfactual (mean - beta) in
    treated cells: the small arrays the group-means plot draws. Never-treated cohort: ``None``."""
    times = np.unique(t)
    ever = np.unique(f[~np.isnan(f)])
    if times.size > 500 or ever.size > 50:
        return {}
    rows = [np.isnan(f)] if np.isnan(f).any() else []
    rows += [f == g for g in ever]
    labels = ([None] if np.isnan(f).any() else []) + [_num(g) for g in ever]
    firsts = ([np.inf] if np.isnan(f).any() else []) + ever.tolist()
    means = np.full((len(rows), times.size), np.nan)
    for i, m in enumerate(rows):
        j = np.searchsorted(times, t[m])
        means[i, j] = s[m] / n[m]
    cf = np.where(np.array(firsts)[:, None] <= times[None, :], means - beta, np.nan)
    return {
        "times": [_num(v) for v in times],
        "cohorts": labels,
        "means": means.tolist(),
        "counterfactual": cf.tolist(),
    }


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


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

    Unit and time effects are absorbed (within transformation). Standard errors are clustered by
    ``cluster`` (default: ``unit``), CR1 with the ``G/(G-1)(n-1)/(n-K)`` factor (``fe_dof``
    decides whether fixed effects nested in clusters count in K) and a t(G-1) interval.
    ``wild_bootstrap=True`` replaces the p-value and interval by the restricted wild cluster
    bootstrap-t (``bootstrap_weights`` ``"rademacher"`` or ``"webb"``, ``n_boot`` draws, ``rng``).
    """
    _choice("fe_dof", fe_dof, ("full", "nested"))
    _choice("bootstrap_weights", bootstrap_weights, ("rademacher", "webb"))
    if wild_bootstrap and int(n_boot) < 99:
        raise DesignError(f"n_boot must be at least 99 for the wild bootstrap; got {n_boot}.")
    lf = lazy_frame(data)
    engine = "in-memory"
    numeric_cov = lf is None or _numeric(lf, covariates)
    if lf is not None and not wild_bootstrap and numeric_cov:
        core = _engine_core(
            lf, outcome, unit, time, treatment, cluster, covariates, fe_dof, missing
        )
    else:
        if lf is not None:
            why = (
                "the wild bootstrap re-fits on rows" if wild_bootstrap else "categorical covariates"
            )
            engine = f"{engine_name(lf)} (rows collected: {why})"
            data = collect(lf, [outcome, unit, time, treatment, cluster, *(covariates or [])])
        with single_threaded_blas():
            fast = None
            if not wild_bootstrap and not covariates:
                fast = balanced_twfe(data, outcome, unit, time, treatment, cluster, fe_dof)
            core = (
                _Core(fast.fit, 0, [], fast.share_negative, fast.negative, fast.n_cohorts,
                      True, fast.cells)
                if fast is not None
                else _memory_core(
                    data, outcome, unit, time, treatment, cluster, covariates, fe_dof, missing,
                    closed_form=not wild_bootstrap and not covariates,
                )
            )  # fmt: skip
    fit = core.fit
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
            core.y,
            core.groups,
            core.cl,
            n_boot=int(n_boot),
            weights=bootstrap_weights,
            rng=gen,
            conf_level=conf_level,
        )
        inference = (
            f"restricted wild cluster bootstrap-t ({bootstrap_weights}, {n_boot} draws, {G} "
            f"clusters): p-value and test-inversion interval; SE is CR1"
        )
    diags = [
        cluster_diagnostic(G, wild_bootstrap),
        weights_diagnostic(core.share_negative, core.negative, core.n_cohorts),
    ]
    absorbing = core.absorbing
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
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=fit.n_obs,
        n_dropped=core.n_dropped,
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
            "engine": core.engine or engine,
        },
        diagnostics=tuple(diags),
        warnings=tuple(warnings_),
        inference=inference,
        details={
            "coef": dict(zip([treatment, *core.names], fit.coef.tolist(), strict=True)),
            "se": dict(zip([treatment, *core.names], fit.se.tolist(), strict=True)),
            "group_means": group_means(
                core.cells[0], core.cells[1], core.cells[2], core.cells[3], est
            ),
            **({"transferred": core.transferred} if core.transferred else {}),
        },
    )


@dataclass(frozen=True)
class _Core:
    """One TWFE fit and what the result reports, from either feed."""

    fit: FEFit
    n_dropped: int
    names: list[str]
    share_negative: float
    negative: float
    n_cohorts: int
    absorbing: bool
    cells: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    engine: str | None = None
    transferred: str | None = None
    y: Any = None  # rows, for the wild bootstrap (in-memory feed only)
    groups: Any = None
    cl: Any = None


def _memory_core(
    data, outcome, unit, time, treatment, cluster, covariates, fe_dof, missing, closed_form=False
):  # type: ignore[no-untyped-def]
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
    fast = None
    if closed_form:  # balanced in another row order, or unbalanced with few gaps
        fast = reordered_twfe(y, d, u, tc, cl, levels["time"], fe_dof)
        fast = fast or grid_twfe(y, d, u, tc, cl, levels["time"], fe_dof)
    if fast is not None:
        return _Core(fast.fit, cols.n_dropped, [], fast.share_negative, fast.negative,
                     fast.n_cohorts, True, fast.cells)  # fmt: skip
    fit = fe_ols(y, np.column_stack([d, cols.X]), [u, tc], cl, fe_dof=fe_dof)
    first, absorbing = adoption(u, tc, d)
    share, neg = negative_weights(fit.Xt[:, 0] if fit.Xt is not None else d, d)
    return _Core(
        fit, cols.n_dropped, list(cols.X_names), share, neg,
        int(np.unique(first[first >= 0]).size), absorbing,
        cohort_cells(y, u, tc, first, levels["time"]), y=y, groups=[u, tc], cl=cl,
    )  # fmt: skip


def _numeric(lf: Any, covariates: list[str] | None) -> bool:
    schema = lf.collect_schema()
    return all(c not in schema or schema[c].is_numeric() for c in covariates or [])


def _engine_core(lf, outcome, unit, time, treatment, cluster, covariates, fe_dof, missing):  # type: ignore[no-untyped-def]
    cov = list(covariates or [])
    roles = {"outcome": outcome, "treatment": treatment, "unit": unit, "time": time}
    roles |= {"cluster": cluster} | {f"__cov{j}": c for j, c in enumerate(cov)}
    src = _engine.prepare(lf, roles, missing, keys=("unit", "time", "cluster"))
    _engine.binary(src, "treatment")
    x = [src.f("treatment"), *[src.f(f"__cov{j}") for j in range(len(cov))]]
    parts = _engine.fe_parts(src, x, fe_dof=fe_dof)
    coef, bread = solve_gram(parts.XtX, parts.Xty)
    scores = _engine.fe_scores(parts, coef, src)
    K = parts.k + fe_param_count(parts.n_levels, parts.nested)
    vcov, G = cr1(bread, scores, parts.n, K)
    fit = FEFit(coef, vcov, None, None, parts.n, K, G)
    share, neg = _engine.twfe_weights(parts, src.f("treatment"))
    f, t, n, s, off = _engine.adoption_cells(src)
    n_cohorts = int(np.unique(f[~np.isnan(f)]).size)
    what = (
        f"Gram matrix of the unit-demeaned outcome, regressors and period indicators "
        f"({(parts.k + parts.n_levels[1]) * (parts.k + parts.n_levels[1] + 1) // 2} sums), "
        f"{parts.k} score sums per cluster ({G} clusters), cohort x period counts and sums"
    )
    return _Core(fit, src.n_dropped, cov, share, neg, n_cohorts, off == 0, (f, t, n, s),
                 src.engine, what)  # fmt: skip
