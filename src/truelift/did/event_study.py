"""Event study: dynamic two-way fixed-effects regression with leads and lags of adoption.

``outcome ~ sum_{e != reference} beta_e 1{time - cohort = e} | unit + time``, clustered by unit
(Bertrand, Duflo & Mullainathan 2004). The coefficients are effects relative to the reference
event time (default -1, the period just before adoption). Endpoints beyond the window are binned
(Schmidheiny & Siegloch 2023) or dropped. The joint Wald test that every lead is zero is the
pre-trend check (a failed test downgrades the headline); since such a test has low power and
conditioning on passing it distorts inference (Roth 2022), the result also reports a relative-
magnitudes bound in the spirit of Rambachan & Roth (2023): the post-period violation of parallel
trends is allowed to be up to ``Mbar`` times the largest change between consecutive pre-periods.

With heterogeneous effects across cohorts, leads and lags of a TWFE event study are contaminated
by other periods' effects (Sun & Abraham 2021); use ``truelift.did.did`` (Callaway & Sant'Anna
2021) with ``aggregation="dynamic"`` for a robust event study.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import narwhals.stable.v1 as nw
import numpy as np
from scipy import stats

from truelift import _frame
from truelift.did import _engine
from truelift.did._common import FeDof, _choice, cluster_diagnostic, load_panel
from truelift.did._engine import collect
from truelift.did._fe import FEFit, cr1, fe_ols, fe_param_count, solve_gram
from truelift.engines import engine_name, lazy_frame
from truelift.errors import DataError, DesignError, IdentificationError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate, EstimateSet

__all__ = ["event_study", "fill_never"]

Endpoints = Literal["bin", "drop"]


def fill_never(data: Any, cohort: str) -> Any:
    """A copy of ``data`` whose ``cohort`` nulls/NaN are 0 (never treated); other frames as is."""
    df = _frame.to_frame(data)
    if cohort not in df.columns:
        return data
    expr = nw.when(nw.col(cohort).is_null()).then(0).otherwise(nw.col(cohort)).alias(cohort)
    df = df.with_columns(expr)
    if df[cohort].dtype.is_float():
        df = df.with_columns(nw.col(cohort).fill_nan(0))
    return df.to_native()


def _event_window(
    e: np.ndarray, treated: np.ndarray, leads: int | None, lags: int | None, reference: int
) -> tuple[int, int]:
    emin, emax = int(e[treated].min()), int(e[treated].max())
    lo = emin if leads is None else -int(leads)
    hi = emax if lags is None else int(lags)
    if lo > -1 or hi < 0:
        raise DesignError(f"leads must be >= 1 and lags >= 0; got leads={leads}, lags={lags}.")
    if not lo <= reference <= -1:
        raise DesignError(
            f"reference must be a pre-period event time in [{lo}, -1]; got {reference}."
        )
    return lo, hi


def _relative_magnitudes(
    b: np.ndarray, V: np.ndarray, ev: list[int], reference: int, conf_level: float, G: int
) -> dict[str, Any]:
    """Relative-magnitudes bound (Rambachan & Roth 2023, Mbar = 1) for the post average."""
    pre = {e: 0.0 for e in [reference]}
    pre.update({e: float(b[i]) for i, e in enumerate(ev) if e < 0})
    seq = [pre[e] for e in sorted(pre)]
    max_step = float(np.max(np.abs(np.diff(seq)))) if len(seq) > 1 else 0.0
    post = [i for i, e in enumerate(ev) if e >= 0]
    w = np.zeros(len(ev))
    w[post] = 1.0 / len(post)
    avg, se = float(w @ b), float(np.sqrt(w @ V @ w))
    bias = max_step * float(np.mean([ev[i] - reference for i in post]))
    lo, hi, _ = interval(avg, se, conf_level, df=G - 1)
    return {
        "Mbar": 1.0,
        "max_pre_change": max_step,
        "bias_bound": bias,
        "ci_low": lo - bias,
        "ci_high": hi + bias,
    }


def _pretrend_test(
    b: np.ndarray, V: np.ndarray, ev: list[int], G: int, alpha: float
) -> tuple[Diagnostic, float]:
    idx = [i for i, e in enumerate(ev) if e < 0]
    if not idx:
        diag = Diagnostic(
            name="pre-trends",
            verdict="warn",
            value=None,
            threshold=f"joint Wald p >= {alpha:g}",
            message="no lead besides the reference period: pre-trends cannot be tested.",
            consequence="downgrade",
        )
        return diag, float("nan")
    bb, VV = b[idx], V[np.ix_(idx, idx)]
    q = len(idx)
    F = float(bb @ np.linalg.solve(VV, bb)) / q
    p = float(stats.f.sf(F, q, G - 1))
    fail = p < alpha
    diag = Diagnostic(
        name="pre-trends",
        verdict="fail" if fail else "pass",
        value=p,
        threshold=f"joint Wald p >= {alpha:g} ({q} leads, F({q}, {G - 1}))",
        message=(
            f"the {q} lead coefficients are jointly non-zero (F = {F:.2f}, p = {p:.3g}): treated "
            "and control units trended apart before adoption, so parallel trends is doubtful. "
            "Read the relative-magnitudes bound, not the point estimate."
            if fail
            else f"no evidence of differential pre-trends (F = {F:.2f}, p = {p:.3g}); a pass "
            "does not prove parallel trends (low power; Roth 2022)."
        ),
        consequence="downgrade",
        details={"F": F, "df1": q, "df2": G - 1},
    )
    return diag, F


def _load(data: Any, **kw: Any) -> Any:
    cohort = kw["cohort"]
    cols, codes, levels = load_panel(
        fill_never(data, cohort),
        numeric={"outcome": kw["outcome"], "tvalue": kw["time"], "cohort": cohort},
        keys={"unit": kw["unit"], "time": kw["time"], "cluster": kw["cluster"]},
        covariates=kw["covariates"],
        missing=kw["missing"],
    )
    u, g = codes["unit"], cols["cohort"]
    n_units = int(u.max()) + 1
    lo, hi = np.full(n_units, np.inf), np.full(n_units, -np.inf)
    np.minimum.at(lo, u, g)
    np.maximum.at(hi, u, g)
    if np.any(lo != hi):
        raise DataError(
            f"Cohort column {cohort!r} must be constant within each unit (the first treated "
            f"period); it varies for {int((lo != hi).sum()):,} units."
        )
    tv = cols["tvalue"]
    if np.any(tv != np.round(tv)) or np.any(g != np.round(g)):
        raise DataError(
            f"Time {kw['time']!r} and cohort {cohort!r} must be integer periods (e.g. week or "
            "year numbers) so that event time = time - cohort is defined."
        )
    if not np.any(g > 0):
        raise IdentificationError(
            f"no unit is ever treated (cohort {cohort!r} is 0 or missing everywhere)."
        )
    return cols, codes, levels


def _design(
    e: np.ndarray, treated: np.ndarray, lo: int, hi: int, reference: int, endpoints: str
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    keep = ~treated | ((e >= lo) & (e <= hi)) if endpoints == "drop" else np.ones(e.size, bool)
    eb = np.clip(e, lo, hi)
    ev = [k for k in range(lo, hi + 1) if k != reference and np.any(treated & keep & (eb == k))]
    X = np.column_stack([(treated & (eb == k)).astype(np.float64) for k in ev])
    return X, keep, ev


def event_study(
    data: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    leads: int | None = None,
    lags: int | None = None,
    reference: int = -1,
    cluster: str | None = None,
    covariates: list[str] | None = None,
    endpoints: Endpoints = "bin",
    pretrend_alpha: float = 0.05,
    fe_dof: FeDof = "full",
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> EstimateSet:
    """Event-study coefficients beta_e relative to event time ``reference`` (default -1).

    ``cohort`` holds each unit's first treated period (0 or missing: never treated). ``leads``
    and ``lags`` set the window ``[-leads, lags]`` (default: every event time in the data);
    event times outside are binned into the endpoints (``endpoints="bin"``) or their rows are
    dropped (``"drop"``). SEs are CR1 clustered by ``cluster`` (default ``unit``), t(G-1).
    The headline is the average of the post coefficients (e >= 0); a failed joint pre-trend Wald
    test (p < ``pretrend_alpha``) downgrades it and the relative-magnitudes bound is reported.
    """
    _choice("endpoints", endpoints, ("bin", "drop"))
    _choice("fe_dof", fe_dof, ("full", "nested"))
    if not 0 < pretrend_alpha < 1:
        raise DesignError(f"pretrend_alpha must lie in (0, 1); got {pretrend_alpha}.")
    opts = dict(
        outcome=outcome,
        unit=unit,
        time=time,
        cohort=cohort,
        leads=leads,
        lags=lags,
        reference=int(reference),
        cluster=cluster or unit,
        endpoints=endpoints,
        covariates=list(covariates or []),
        fe_dof=fe_dof,
        pretrend_alpha=pretrend_alpha,
    )
    lf = lazy_frame(data)
    if lf is not None:
        schema = lf.collect_schema()
        if all(c not in schema or schema[c].is_numeric() for c in covariates or []):
            return _es_engine(lf, opts, cluster, missing, conf_level)
        data = collect(lf, [outcome, unit, time, cohort, cluster, *(covariates or [])])
        opts["engine"] = f"{engine_name(lf)} (rows collected: categorical covariates)"
    cols, codes, levels = _load(
        data,
        outcome=outcome,
        unit=unit,
        time=time,
        cohort=cohort,
        cluster=cluster,
        covariates=covariates,
        missing=missing,
    )
    y, g = cols["outcome"], cols["cohort"]
    u, tc = codes["unit"], codes["time"]
    treated = g > 0
    e = np.where(treated, cols["tvalue"] - g, 0).astype(np.int64)
    lo, hi = _event_window(e, treated, leads, lags, int(reference))
    X, keep, ev = _design(e, treated, lo, hi, int(reference), endpoints)
    cl = codes["cluster"] if cluster else u
    Xall = np.column_stack([X, cols.X])[keep]
    try:
        fit = fe_ols(y[keep], Xall, [u[keep], tc[keep]], cl[keep], fe_dof=fe_dof)
    except IdentificationError as exc:
        if not np.any(~treated):
            raise IdentificationError(
                "with no never-treated units a fully dynamic event study is not identified; "
                "set leads/lags to a shorter window (binning the endpoints), or use "
                "did(control='notyet')."
            ) from exc
        raise
    k = len(ev)
    b, V, G = fit.coef[:k], fit.vcov[:k, :k], fit.n_clusters
    pre_diag, _ = _pretrend_test(b, V, ev, G, pretrend_alpha)
    sens = _relative_magnitudes(b, V, ev, int(reference), conf_level, G)
    never = Diagnostic(
        name="never-treated group",
        verdict="pass" if np.any(~treated) else "warn",
        value=float(np.unique(u[~treated]).size),
        threshold=">= 1 never-treated unit",
        message="never-treated units anchor the time effects."
        if np.any(~treated)
        else "no never-treated units: time effects are identified from adoption timing only.",
        consequence="none",
    )
    diags = (pre_diag, cluster_diagnostic(G, False), never)
    opts.setdefault("engine", "in-memory")
    return _assemble(
        fit,
        ev,
        diags,
        sens,
        conf_level,
        cols.n_dropped + int((~keep).sum()),
        int(keep.sum()),
        _paths(y[keep], g[keep], tc[keep], levels["time"], ev, fit.coef[: len(ev)]),
        opts,
    )


def _coef_estimate(
    est: float,
    se: float,
    G: int,
    conf_level: float,
    n: int,
    n_dropped: int,
    estimand: str,
    params: dict[str, Any],
) -> Estimate:
    lo, hi, p = interval(est, se, conf_level, df=G - 1)
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=n,
        n_dropped=n_dropped,
        estimand=estimand,
        method="TWFE event study",
        params=params,
        inference=f"cluster-robust (CR1) by {params['cluster']}, t({G - 1})",
    )


def _paths(
    y: np.ndarray, g: np.ndarray, tc: np.ndarray, times: np.ndarray, ev: list[int], b: np.ndarray
) -> dict[str, Any]:
    """In-memory feed of :func:`paths_from_cells`: count and outcome sum per (cohort, period)."""
    key = np.unique(np.column_stack([g, tc]), axis=0, return_inverse=True)
    cells, inv = key[0], key[1].ravel()
    n = np.bincount(inv).astype(float)
    s = np.bincount(inv, weights=y)
    return paths_from_cells(cells[:, 0], times[cells[:, 1].astype(np.int64)], n, s, ev, b)


def paths_from_cells(
    gv: np.ndarray, tv: np.ndarray, n: np.ndarray, s: np.ndarray, ev: list[int], b: np.ndarray
) -> dict[str, Any]:
    """Mean outcome per cohort and period, and the counterfactual (mean minus effect) after g."""
    cohorts, times = np.unique(gv), np.unique(tv)
    if times.size > 500 or cohorts.size > 50:
        return {}
    means = np.full((cohorts.size, times.size), np.nan)
    means[np.searchsorted(cohorts, gv), np.searchsorted(times, tv)] = s / n
    effect = dict(zip(ev, b.tolist(), strict=True))
    lo, hi = min([*ev, 0]), max([*ev, 0])
    cf = np.full_like(means, np.nan)
    for i, coh in enumerate(cohorts):
        if coh <= 0:
            continue
        for j, t in enumerate(times):
            if t >= coh and not np.isnan(means[i, j]):
                cf[i, j] = means[i, j] - effect.get(int(np.clip(t - coh, lo, hi)), 0.0)
    return {
        "times": [_int(v) for v in times],
        "cohorts": [_int(v) for v in cohorts],
        "means": means.tolist(),
        "counterfactual": cf.tolist(),
    }


def _int(v: Any) -> Any:
    return int(v) if float(v).is_integer() else float(v)


def _assemble(
    fit: Any,
    ev: list[int],
    diags: tuple[Diagnostic, ...],
    sens: dict[str, Any],
    conf_level: float,
    n_dropped: int,
    n_kept: int,
    paths: dict[str, Any],
    opts: dict[str, Any],
) -> EstimateSet:
    k, G = len(ev), fit.n_clusters
    b, V = fit.coef[:k], fit.vcov[:k, :k]
    params = {"design": "did", "estimator": "event_study", **opts, "n_clusters": G}
    n, nd, ref = n_kept, n_dropped, opts["reference"]
    items = []
    for i, ek in enumerate(ev):
        est = f"effect at event time {ek} relative to event time {ref} (TWFE event study)"
        items.append(
            (
                f"e={ek}",
                _coef_estimate(
                    float(b[i]), float(np.sqrt(V[i, i])), G, conf_level, n, nd, est, params
                ),
            )
        )
    post = [i for i, ek in enumerate(ev) if ek >= 0]
    w = np.zeros(k)
    w[post] = 1.0 / len(post)
    avg = _coef_estimate(
        float(w @ b),
        float(np.sqrt(w @ V @ w)),
        G,
        conf_level,
        n,
        nd,
        f"average of the post-adoption event-study coefficients (e = 0..{max(ev)}), each relative"
        f" to event time {ref}",
        params,
    )
    avg = Estimate(
        **{**avg.__dict__, "diagnostics": (diags[0],), "details": {"relative_magnitudes": sens}}
    )
    items.append(("post average", avg))
    ses = np.sqrt(np.diag(V))
    q = float(stats.t(G - 1).ppf(0.5 + conf_level / 2))
    study = {
        "event_time": ev,
        "estimate": b.tolist(),
        "std_error": ses.tolist(),
        "ci_low": (b - q * ses).tolist(),
        "ci_high": (b + q * ses).tolist(),
        "reference": ref,
    }
    return EstimateSet(
        title=f"Event study of {opts['outcome']} (reference: event time {ref})",
        estimates=tuple(items),
        method="TWFE event study",
        headline="post average",
        params=params,
        diagnostics=diags,
        details={
            "event_study": study,
            "relative_magnitudes": sens,
            "group_means": paths,
        },
    )


def _es_engine(
    lf: Any, opts: dict[str, Any], cluster: str | None, missing: Any, conf_level: float
) -> EstimateSet:
    """The event study on a lazy table: the TWFE Gram and per-cluster scores and the cohort x
    period cell means are summed in the engine (:mod:`truelift.did._engine`); no rows leave."""
    cov = opts["covariates"]
    roles = {k: opts[k] for k in ("outcome", "unit", "time", "cohort")}
    roles |= {"cluster": cluster} | {f"__cov{j}": c for j, c in enumerate(cov)}
    src = _engine.prepare(lf, roles, missing, keys=("unit", "cluster"), nullable=("cohort",))
    g = src.f("cohort").fill_null(0.0)
    g = nw.when(g.is_nan()).then(0.0).otherwise(g)
    src = replace(src, lf=src.lf.with_columns(__g=g, __e=src.f("time") - g))
    tab = _engine.event_table(src)
    ev_all, tr, cnt, n_never = tab
    lo, hi = _event_window(ev_all, tr, opts["leads"], opts["lags"], opts["reference"])
    treated, e = nw.col("__g") > 0, nw.col("__e")
    n_all = round(float(cnt.sum()))
    if opts["endpoints"] == "drop":
        src = replace(src, lf=src.lf.filter(~treated | ((e >= lo) & (e <= hi))))
        ok = ~tr | ((ev_all >= lo) & (ev_all <= hi))
    else:
        ok = np.ones(ev_all.size, bool)
    eb = np.clip(ev_all, lo, hi)
    ev = [k for k in range(lo, hi + 1) if k != opts["reference"] and np.any(tr & ok & (eb == k))]
    x = [(treated & (e.clip(lo, hi) == k)).cast(nw.Float64) for k in ev]
    x += [src.f(f"__cov{j}") for j in range(len(cov))]
    parts = _engine.fe_parts(src, x, fe_dof=opts["fe_dof"])
    try:
        coef, bread = solve_gram(parts.XtX, parts.Xty)
    except IdentificationError as exc:
        if n_never == 0:
            raise IdentificationError(
                "with no never-treated units a fully dynamic event study is not identified; "
                "set leads/lags to a shorter window (binning the endpoints), or use "
                "did(control='notyet')."
            ) from exc
        raise
    scores = _engine.fe_scores(parts, coef, src)
    K = parts.k + fe_param_count(parts.n_levels, parts.nested)
    vcov, G = cr1(bread, scores, parts.n, K)
    fit = FEFit(coef, vcov, None, None, parts.n, K, G)
    k = len(ev)
    b, V = coef[:k], vcov[:k, :k]
    pre_diag, _ = _pretrend_test(b, V, ev, G, opts["pretrend_alpha"])
    sens = _relative_magnitudes(b, V, ev, opts["reference"], conf_level, G)
    never = Diagnostic(
        name="never-treated group",
        verdict="pass" if n_never else "warn",
        value=float(n_never),
        threshold=">= 1 never-treated unit",
        message="never-treated units anchor the time effects."
        if n_never
        else "no never-treated units: time effects are identified from adoption timing only.",
        consequence="none",
    )
    gv, tv, n, sy = _engine.cell_sums(src, "__g")
    opts = {**opts, "engine": src.engine}
    res = _assemble(
        fit, ev, (pre_diag, cluster_diagnostic(G, False), never), sens, conf_level,
        src.n_dropped + n_all - parts.n, parts.n, paths_from_cells(gv, tv, n, sy, ev, b), opts,
    )  # fmt: skip
    details = {**res.details, "transferred": (
        f"Gram matrix of {parts.k + parts.n_levels[1]} unit-demeaned columns and the outcome, "
        f"{parts.k} score sums per cluster ({G} clusters), event-time and cohort x period counts"
    )}  # fmt: skip
    return replace(res, details=details)
