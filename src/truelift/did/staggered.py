"""Staggered difference-in-differences: Callaway & Sant'Anna (2021) group-time ATTs.

``did(data, outcome=, unit=, time=, cohort=)`` estimates every ATT(g,t) -- the average effect in
period t on the units first treated in period g -- by a 2x2 comparison of cohort g with a clean
comparison group (never treated, or not yet treated), using the doubly robust, IPW or
outcome-regression DiD of Sant'Anna & Zhao (2020), and aggregates them (simple, event-study,
group, calendar). Standard errors are analytic, from influence functions that include the
estimation of the nuisance models and of the aggregation weights, exactly as the R package
``did`` (Callaway & Sant'Anna) computes them; uniform bands use its multiplier bootstrap.

Diagnostics: a joint Wald pre-test of the pre-treatment ATT(g,t); when it fails the headline is
downgraded and a sensitivity interval in the spirit of Rambachan & Roth (2023) (relative
magnitudes with M-bar = 1) is reported; few clusters; small cohorts. No never-treated group
with ``control="never"`` raises IdentificationError; a treatment that switches off raises
DataError (the design needs absorbing adoption).

References: Callaway & Sant'Anna (2021, J. Econometrics 225(2)); Sant'Anna & Zhao (2020,
J. Econometrics 219(1)); Abadie (2005); Heckman, Ichimura & Todd (1997); Rambachan & Roth
(2023, REStud).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.did import _aggregate as agg
from truelift.did import _cs_moments as csm
from truelift.did import _engine
from truelift.did._cs_data import Data, load, restrict, restrict_moments
from truelift.did._cs_kernels import PANEL_KERNELS, RC_KERNELS
from truelift.did._engine import collect
from truelift.engines import engine_name, lazy_frame
from truelift.errors import DesignError, IdentificationError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate, EstimateSet

__all__ = ["did"]

Control = Literal["never", "notyet"]
Method = Literal["dr", "ipw", "reg"]
Aggregation = Literal["simple", "dynamic", "group", "calendar"]
BasePeriod = Literal["varying", "universal"]

_OPTIONS: dict[str, tuple[str, ...]] = {
    "control": ("never", "notyet"),
    "method": ("dr", "ipw", "reg"),
    "aggregation": ("simple", "dynamic", "group", "calendar"),
    "base_period": ("varying", "universal"),
}
_METHOD_TEXT = {
    "dr": "doubly robust DiD (Sant'Anna & Zhao 2020: logit propensity + OLS outcome model)",
    "ipw": "normalised inverse-probability-weighted DiD (Abadie 2005)",
    "reg": "outcome-regression DiD (Heckman, Ichimura & Todd 1997)",
}
_ESTIMAND = {
    "simple": "ATT, simple aggregation: post-treatment ATT(g,t) averaged with cohort-size weights",
    "dynamic": "ATT, event-study aggregation: average over event times e >= 0 of the "
    "cohort-size-weighted ATT e periods after adoption",
    "group": "ATT, group aggregation: cohort-size-weighted average of each cohort's mean "
    "post-treatment effect",
    "calendar": "ATT, calendar aggregation: average over calendar periods of the "
    "cohort-weighted ATT of the cohorts treated by then",
}


@dataclass
class _Cells:
    """Every estimated ATT(g,t): arrays of length K and the n x K influence functions."""

    group: np.ndarray
    period: np.ndarray
    att: np.ndarray
    inf: np.ndarray
    steps: np.ndarray
    n_used: np.ndarray


def did(
    data: Any,
    *,
    outcome: str,
    unit: str | None,
    time: str,
    cohort: str | None = None,
    treatment: str | None = None,
    control: Control = "never",
    method: Method = "dr",
    covariates: list[str] | None = None,
    aggregation: Aggregation = "simple",
    anticipation: int = 0,
    base_period: BasePeriod = "varying",
    panel: bool = True,
    cluster: str | None = None,
    bands: bool = False,
    n_boot: int = 1000,
    rng: int | np.random.Generator | None = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> EstimateSet:
    """Callaway & Sant'Anna (2021) staggered DiD: every ATT(g,t) and one aggregation.

    Args:
        data: pandas / polars / pyarrow table in long form (one row per unit and period).
        outcome, unit, time: column names; ``time`` numeric periods; ``unit`` may be ``None``
            with ``panel=False`` (repeated cross-sections).
        cohort: the first treated period of each unit; 0 or missing = never treated; cohorts
            after the last period count as never treated. Alternatively ``treatment``: a 0/1
            column from which the first treated period is derived (panel only; it must never
            switch off).
        control: comparison group, ``"never"`` (never treated) or ``"notyet"`` (not yet
            treated by the later of the two compared periods, plus anticipation).
        method: ``"dr"`` (default), ``"ipw"`` or ``"reg"``; ``covariates`` enter the
            propensity-score and outcome models (conditional parallel trends).
        aggregation: headline: ``"simple"``, ``"dynamic"`` (event study), ``"group"``,
            ``"calendar"``; its components (per event time, cohort or period) are included.
        anticipation: periods before adoption in which units may already react.
        base_period: ``"varying"`` (R default: pre-periods compare t with t-1) or
            ``"universal"`` (every ATT(g,t) against period g-1-anticipation).
        panel: balanced panel (``True``; units missing a period are dropped with a warning)
            or repeated cross-sections (``False``).
        cluster: column with clusters (constant within unit) for CR1-clustered SEs.
        bands: uniform (sup-t) confidence bands over the ATT(g,t) and over the aggregation's
            components by multiplier bootstrap (``n_boot`` draws, ``rng``).
        conf_level, missing: interval level; ``"raise"`` or ``"drop"`` rows with missing values.

    Returns:
        EstimateSet with one Estimate per ATT(g,t) (labels ``"g=2004,t=2005"``), the
        aggregation's components and the headline (``"ATT (simple)"`` etc.).
    """
    opts = {
        "control": control,
        "method": method,
        "aggregation": aggregation,
        "base_period": base_period,
    }
    _validate(opts, anticipation, n_boot, bands, cohort, treatment, panel, unit)
    lf, engine = lazy_frame(data), "in-memory"
    if lf is not None:
        why = _rows_needed(covariates, treatment, panel, bands)
        if why is None:
            d = _from_engine(
                lf, outcome, unit, time, cohort, cluster, missing, control, anticipation
            )
            engine = d.engine
        else:
            engine = f"{engine_name(lf)} (rows collected: {why})"
            data = collect(
                lf, [outcome, unit, time, cohort, treatment, cluster, *(covariates or [])]
            )
    if lf is None or engine.endswith(")"):
        d = load(data, outcome, unit, time, cohort, treatment, covariates, cluster, missing, panel)
        d = restrict(d, control, anticipation)
        d.engine = engine
    cells = _estimate_cells(d, control, method, anticipation, base_period)
    top = agg.aggregate(aggregation, cells.att, cells.inf, cells.group, cells.period, d.rows())
    gen = _generator(rng) if bands else None
    return _assemble(d, cells, top, opts, anticipation, conf_level, gen, n_boot, covariates)


def _rows_needed(covariates, treatment, panel, bands) -> str | None:  # type: ignore[no-untyped-def]
    """Why a lazy table's rows must be collected, or None when sums suffice."""
    if covariates:
        return "covariates: the propensity and outcome models are fitted on rows"
    if treatment is not None:
        return "treatment=: the first treated period is derived per unit"
    if not panel:
        return "repeated cross-sections are estimated on rows"
    if bands:
        return "uniform bands draw multipliers per unit"
    return None


def _from_engine(lf, outcome, unit, time, cohort, cluster, missing, control, anticipation) -> Data:  # type: ignore[no-untyped-def]
    """Per-cohort moments summed in the engine, restricted as R did restricts the panel."""
    roles = {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort, "cluster": cluster}
    src = _engine.prepare(lf, roles, missing, keys=("unit", "cluster"), nullable=("cohort",))
    m = _engine.cs_moments(src, cluster is not None, anticipation, control)
    m = restrict_moments(m, control, anticipation)
    d = Data(True, m.tlist, np.empty(0), np.empty((m.tlist.size, 0)), np.empty(0),
             np.arange(m.tlist.size), None, 0, src.n_dropped, m.cohorts_used, m.notes)  # fmt: skip
    d.n_obs = round(m.n) * m.tlist.size
    d.moments, d.engine = m, src.engine
    d.transferred = "per cohort: unit count, outcome sum per period" + (
        " and per cluster" if cluster else " and cross-products of periods"
    )
    return d


def _generator(rng: int | np.random.Generator | None) -> np.random.Generator:
    if rng is not None and not isinstance(rng, (int, np.integer, np.random.Generator)):
        raise DesignError(f"rng must be None, an int seed or a numpy Generator; got {rng!r}.")
    return np.random.default_rng(rng)


def _validate(opts, anticipation, n_boot, bands, cohort, treatment, panel, unit) -> None:
    for name, value in opts.items():
        if value not in _OPTIONS[name]:
            allowed = ", ".join(repr(v) for v in _OPTIONS[name])
            raise DesignError(f"{name} must be one of {allowed}; got {value!r}.")
    if isinstance(anticipation, bool) or not isinstance(anticipation, (int, np.integer)):
        raise DesignError(f"anticipation must be a whole number of periods; got {anticipation!r}.")
    if anticipation < 0:
        raise DesignError(f"anticipation must be >= 0; got {anticipation}.")
    if bands and (not isinstance(n_boot, (int, np.integer)) or n_boot < 100):
        raise DesignError(f"n_boot must be an integer >= 100 for uniform bands; got {n_boot!r}.")
    if (cohort is None) == (treatment is None):
        raise DesignError(
            "give exactly one of cohort= (first treated period, 0 = never) or treatment= "
            "(a 0/1 column from which the first treated period is derived)."
        )
    if panel and unit is None:
        raise DesignError(
            "unit= is required with panel=True; pass panel=False for repeated cross-sections."
        )
    if treatment is not None and not panel:
        raise DesignError("treatment= needs panel data (to follow units); pass cohort= instead.")


def _plan(d: Data, anticipation: int, base: str) -> list[tuple[float, int, int, int]]:
    """Every (cohort, current period index, base period index, comparison threshold index)."""
    tl, T = d.tlist, d.tlist.size
    plan = []
    start = 0 if base == "universal" else 1
    for g in d.cohorts:
        pre = np.flatnonzero(tl + anticipation < g)
        if pre.size == 0:
            d.notes.append(f"Cohort {g:g} has no pre-treatment period and is dropped.")
            continue
        pre_idx = int(pre[-1])
        for cur in range(start, T):
            b = pre_idx if (base == "universal" or g <= tl[cur]) else cur - 1
            if b == cur:
                continue  # universal base: the reference period itself
            plan.append((float(g), cur, b, cur if base == "varying" else max(cur, pre_idx)))
    if not plan:
        raise IdentificationError(
            "no ATT(g,t) could be estimated: no cohort has a pre-treatment period."
        )
    return plan


def _estimate_cells(d: Data, control: str, method: str, anticipation: int, base: str) -> _Cells:
    plan = _plan(d, anticipation, base)
    if d.moments is not None or (d.panel and d.XT.shape[-1] == 1):
        return _moment_cells(d, plan, control, anticipation)
    tl, n = d.tlist, d.unit_g.shape[0]
    inf = np.zeros((n, len(plan)), order="F")  # one contiguous column per ATT(g,t)
    att, used = np.empty(len(plan)), np.empty(len(plan), dtype=np.int64)
    never = d.unit_g == 0
    for k, (g, cur, b, thr) in enumerate(plan):
        Dg = d.unit_g == g
        C = never | ((d.unit_g > tl[thr] + anticipation) & ~Dg) if control == "notyet" else never
        where = f" for cohort g={g:g}, period t={tl[cur]:g}"
        att[k], used[k] = _one_cell(d, Dg, C, cur, b, method, where, inf[:, k])
    group = np.array([p[0] for p in plan])
    steps = np.array([max(p[1] - p[2], 0) for p in plan])
    return _Cells(group, tl[[p[1] for p in plan]], att, inf, steps, used)


def _moment_cells(d: Data, plan: list[Any], control: str, anticipation: int) -> _Cells:
    """No covariates: the per-cohort moment kernel (:mod:`truelift.did._cs_moments`), evaluated
    on the units' rows (in memory) or on pseudo-rows (engine moments)."""
    if d.moments is None:
        m, cidx = csm.from_arrays(d.Y, d.unit_g, d.tlist)
        att, a, B, E, used = csm.cells(m, plan, control, anticipation)
        inf = csm.row_inf(a, B, E, d.Y, cidx)
    else:
        att, a, B, E, used = csm.cells(d.moments, plan, control, anticipation)
        inf, d.unit_g, mult, d.cluster = csm.pseudo_inf(d.moments, a, B, E)
        m = d.moments
        d.pseudo = agg.Rows(
            d.unit_g, mult, dict(zip(m.cohort.tolist(), (m.N / m.n).tolist(), strict=True))
        )
    group = np.array([p[0] for p in plan])
    steps = np.array([max(p[1] - p[2], 0) for p in plan])
    return _Cells(group, d.tlist[[p[1] for p in plan]], att, inf, steps, used)


def _one_cell(
    d: Data,
    Dg: np.ndarray,
    C: np.ndarray,
    cur: int,
    b: int,
    method: str,
    where: str,
    out: np.ndarray,
) -> tuple[float, int]:
    """ATT(g,t) of one 2x2 comparison; writes its n-vector influence function into ``out``."""
    n = d.unit_g.shape[0]
    if d.panel:
        if not C.any():
            raise IdentificationError(
                f"no comparison units{where}; try control='notyet' or check the cohorts."
            )
        idx = np.flatnonzero(Dg | C)
        dy = d.Y[cur][idx] - d.Y[b][idx]
        att, psi = PANEL_KERNELS[method](dy, Dg[idx].astype(float), d.XT[min(cur, b)][idx], where)
        rows_used = 2 * idx.size
    else:
        idx = np.flatnonzero((Dg | C) & ((d.tidx == cur) | (d.tidx == b)))
        post = (d.tidx[idx] == cur).astype(float)
        D = Dg[idx].astype(float)
        for lab, m in (("treated", D), ("comparison", 1 - D)):
            for per, q in (("current", post), ("base", 1 - post)):
                if not (m * q).any():
                    raise IdentificationError(f"no {lab} observations in the {per} period{where}.")
        att, psi = RC_KERNELS[method](d.Y[idx], post, D, d.XT[idx], where)
        rows_used = idx.size
    out[idx] = (n / idx.size) * psi
    return float(att), rows_used


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass
class _Ctx:
    """What every Estimate of one call shares."""

    conf_level: float
    cluster: np.ndarray | None
    method: str
    params: dict[str, Any]
    n_obs: int
    n_dropped: int
    n_units: int


def _make(
    ctx: _Ctx,
    att: float,
    psi: np.ndarray,
    estimand: str,
    crit: float | None = None,
    diagnostics: tuple[Diagnostic, ...] = (),
    details: dict[str, Any] | None = None,
    n_obs: int | None = None,
) -> Estimate:
    se = agg.se_of(psi, ctx.cluster, ctx.n_units)
    lo, hi, p = interval(att, se, ctx.conf_level)
    how = "CR1-clustered " if ctx.cluster is not None else ""
    inference = f"analytic {how}influence-function SE (as R did), normal interval"
    if crit is not None:
        lo, hi = att - crit * se, att + crit * se
        inference = (
            f"analytic {how}influence-function SE; uniform (sup-t) band from a multiplier "
            f"bootstrap, critical value {crit:.3f} instead of the pointwise normal quantile"
        )
    return Estimate(
        estimate=float(att),
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=ctx.conf_level,
        p_value=p,
        n_obs=ctx.n_obs if n_obs is None else n_obs,
        n_dropped=ctx.n_dropped,
        estimand=estimand,
        method=ctx.method,
        params=ctx.params,
        diagnostics=diagnostics,
        inference=inference,
        details=details or {},
    )


def _assemble(
    d, cells, top, opts, anticipation, conf_level, gen, n_boot, covariates
) -> EstimateSet:
    comparison = "never-treated" if opts["control"] == "never" else "not-yet-treated"
    method = (
        f"Callaway & Sant'Anna (2021) staggered DiD; {_METHOD_TEXT[opts['method']]}; "
        f"{comparison} comparison group; {opts['base_period']} base period"
    )
    params: dict[str, Any] = {
        "design": "did",
        "estimator": "callaway_santanna",
        **opts,
        "anticipation": int(anticipation),
        "panel": d.panel,
        "covariates": list(covariates or []),
        "clustered": d.cluster is not None,
        "bands": gen is not None,
        "n_boot": int(n_boot) if gen is not None else None,
        "conf_level": conf_level,
        "cohorts": d.cohorts.tolist(),
        "periods": d.tlist.tolist(),
        "n_units": d.n_units,
        "engine": d.engine,
    }
    ctx = _Ctx(conf_level, d.cluster, method, params, d.n_obs, d.n_dropped, d.n_units)
    crit_gt = crit_parts = None
    if gen is not None:
        crit_gt = agg.multiplier_crit(cells.inf, conf_level, gen, n_boot, d.cluster)
        if top.parts:
            P = np.column_stack([p.psi for p in top.parts])
            crit_parts = agg.multiplier_crit(P, conf_level, gen, n_boot, d.cluster)
    diags, sens = _diagnostics(d, cells, top, ctx, anticipation, opts["base_period"], covariates)
    estimates: list[tuple[str, Estimate]] = []
    for k in range(cells.att.size):
        g, t = cells.group[k], cells.period[k]
        kind = (
            "placebo, pre-treatment"
            if t < g - anticipation
            else ("anticipation window" if t < g else "post-treatment")
        )
        text = f"ATT(g={_num(g)}, t={_num(t)}): average effect in period {_num(t)} on units first treated in {_num(g)} ({kind})"
        e = _make(ctx, cells.att[k], cells.inf[:, k], text, crit_gt, n_obs=int(cells.n_used[k]))
        estimates.append((f"g={_num(g)},t={_num(t)}", e))
    for part in top.parts:
        text = f"{_ESTIMAND[opts['aggregation']].split(':')[0]} component {part.label}"
        estimates.append((part.label, _make(ctx, part.att, part.psi, text, crit_parts)))
    head = _make(
        ctx, top.att, top.psi, _ESTIMAND[opts["aggregation"]], None, diags, {"sensitivity": sens}
    )
    estimates.append((top.label, head))
    details = _details(cells, top, estimates, crit_gt, crit_parts, sens, anticipation, opts)
    if d.transferred:
        details["transferred"] = d.transferred
    return EstimateSet(
        title="Staggered difference-in-differences (Callaway & Sant'Anna 2021)",
        estimates=tuple(estimates),
        method=method,
        headline=top.label,
        params=params,
        diagnostics=diags,
        warnings=tuple(d.notes),
        details=details,
    )


def _details(
    cells, top, estimates, crit_gt, crit_parts, sens, anticipation, opts
) -> dict[str, Any]:
    by = dict(estimates)
    gt = [by[f"g={_num(g)},t={_num(t)}"] for g, t in zip(cells.group, cells.period, strict=True)]
    parts = [by[p.label] for p in top.parts]
    reference = "t-1 (varying)" if opts["base_period"] == "varying" else "g-1-anticipation"
    return {
        "att_gt": {
            "group": cells.group.tolist(),
            "time": cells.period.tolist(),
            "event_time": (cells.period - cells.group).tolist(),
            "att": cells.att.tolist(),
            "se": [e.std_error for e in gt],
            "ci_low": [e.ci_low for e in gt],
            "ci_high": [e.ci_high for e in gt],
            "pre": (cells.period < cells.group - anticipation).tolist(),
        },
        "aggregation": {
            "kind": opts["aggregation"],
            "key": [p.key for p in top.parts],
            "label": [p.label for p in top.parts],
            "att": [e.estimate for e in parts],
            "se": [e.std_error for e in parts],
            "ci_low": [e.ci_low for e in parts],
            "ci_high": [e.ci_high for e in parts],
        },
        "crit_value_att_gt": crit_gt,
        "crit_value_aggregation": crit_parts,
        "base_period": reference,
        "sensitivity": sens,
    }


def _diagnostics(
    d, cells, top, ctx, anticipation, base, covariates
) -> tuple[tuple[Diagnostic, ...], dict[str, Any]]:
    pre_diag, sens = _pretrend(cells, top, ctx, anticipation, base)
    return (pre_diag, _clusters(d), _cohort_sizes(d, covariates)), sens


def _pretrend(cells, top, ctx, anticipation, base) -> tuple[Diagnostic, dict[str, Any]]:
    pre = cells.period < cells.group - anticipation
    name, rule = "pre-trends", "joint Wald p >= 0.05"
    if not pre.any():
        msg = "No pre-treatment ATT(g,t) to test: parallel trends cannot be checked with these periods."
        return Diagnostic(name, "warn", None, rule, msg, "none"), {}
    W, p, df = agg.pretest(cells.att[pre], cells.inf[:, pre], ctx.cluster, ctx.n_units)
    M = _max_step(cells, pre, base)
    post = ~pre
    B = float(np.sum(np.abs(top.weights[post]) * cells.steps[post]) * M)
    se = agg.se_of(top.psi, ctx.cluster, ctx.n_units)
    lo, hi, _ = interval(top.att, se, ctx.conf_level)
    sens = {
        "max_pre_deviation": M,
        "bias_bound": B,
        "identified_set": [top.att - B, top.att + B],
        "robust_ci": [lo - B, hi + B],
        "wald": W,
        "df": df,
    }
    info = {"wald": W, "df": df, "p_value": p, **sens}
    if p >= 0.05:
        msg = f"Pre-treatment ATT(g,t) are jointly consistent with zero (Wald chi2({df}) = {W:.2f}, p = {p:.3f})."
        return Diagnostic(name, "pass", p, rule, msg, "downgrade", info), sens
    msg = (
        f"Pre-treatment ATT(g,t) differ from zero (Wald chi2({df}) = {W:.2f}, p = {p:.4f}): parallel "
        f"trends is doubtful. If post-treatment departures from parallel trends are per period no "
        f"larger than the largest pre-treatment one ({M:.4g}; relative magnitudes with M-bar = 1, "
        f"in the spirit of Rambachan & Roth 2023), the headline lies in [{top.att - B:.4g}, "
        f"{top.att + B:.4g}] (robust {100 * ctx.conf_level:g}% interval [{lo - B:.4g}, {hi + B:.4g}]). "
        "Consider covariates (conditional parallel trends) or a not-yet-treated comparison."
    )
    return Diagnostic(name, "fail", p, rule, msg, "downgrade", info), sens


def _max_step(cells: _Cells, pre: np.ndarray, base: str) -> float:
    """Largest one-period pre-treatment departure from parallel trends."""
    if base == "varying":
        return float(np.max(np.abs(cells.att[pre])))
    steps = []
    for g in np.unique(cells.group[pre]):
        m = pre & (cells.group == g)
        seq = np.append(cells.att[m][np.argsort(cells.period[m])], 0.0)  # ends at the reference
        steps.append(np.max(np.abs(np.diff(seq))) if seq.size > 1 else 0.0)
    return float(max(steps))


def _clusters(d: Data) -> Diagnostic:
    what = "clusters" if d.cluster is not None else ("units" if d.panel else "observations")
    G = int(d.cluster.max()) + 1 if d.cluster is not None else d.n_units
    rule = "warn below 30, fail below 10"
    if G < 10:
        msg = (
            f"Only {G} {what}: the influence-function SEs rest on asymptotics across {what} and "
            "will be too small. Treat the interval as optimistic; use more clusters or a wild "
            "cluster bootstrap."
        )
        return Diagnostic("clusters", "fail", float(G), rule, msg, "downgrade")
    if G < 30:
        msg = f"{G} {what}: few for asymptotic SEs; intervals may be somewhat too narrow."
        return Diagnostic("clusters", "warn", float(G), rule, msg, "downgrade")
    return Diagnostic("clusters", "pass", float(G), rule, f"{G:,} {what}.", "downgrade")


def _cohort_sizes(d: Data, covariates: list[str] | None) -> Diagnostic:
    per = 1 if d.panel else d.tlist.size
    need = len(covariates or []) + 5
    groups = np.append(d.cohorts, 0.0)
    sizes = {_num(g): d.cohort_count(g) / per for g in groups}
    small = [k for k, v in sizes.items() if v < need]
    rule = f">= {need} units per cohort and in the never-treated group"
    if small:
        msg = f"Small cohorts ({', '.join('never' if k == '0' else k for k in small)}): their ATT(g,t) are noisy and their SEs unreliable."
        return Diagnostic(
            "cohort sizes", "warn", min(sizes.values()), rule, msg, "none", {"sizes": sizes}
        )
    return Diagnostic(
        "cohort sizes",
        "pass",
        min(sizes.values()),
        rule,
        "Every cohort is large enough.",
        "none",
        {"sizes": sizes},
    )
