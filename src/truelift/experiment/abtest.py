"""A/B (and A/B/n) readouts: difference in means, relative lift, CUPED / Lin regression adjustment,
ratio metrics, cluster-randomized tests, multiple-testing corrections and the SRM gate.

Estimators (all from per-arm sufficient statistics, see :mod:`truelift.experiment._moments`):

* difference in means with Welch (unequal-variance) standard errors (Neyman 1923);
* relative lift ``mean_t / mean_c - 1`` with a delta-method interval (Deng, Knoblich & Lu 2018);
* regression adjustment: Lin (2013, Ann. Appl. Stat.) fully interacted OLS (default) or CUPED
  (Deng, Xu, Kohavi & Walker 2013, WSDM) with one pooled slope; robust (HC) variances;
* ratio metrics ``sum(num) / sum(den)`` (per session, per token) by the delta method;
* cluster-randomized tests: cluster totals and the ratio (cluster-level delta-method) estimator,
  equivalent to CR1 cluster-robust inference for the user-weighted mean (Donner & Klar 2000);
* Holm (1979) family-wise or Benjamini–Hochberg (1995) false-discovery-rate adjusted p-values,
  with Bonferroni simultaneous or Benjamini–Yekutieli (2005) FCR-adjusted intervals;
* sample-ratio mismatch (Fabijan et al. 2019): a failed check withholds the readout.

Return type: one :class:`~truelift.result.Estimate` when there is exactly one comparison of one
metric (two arms, one outcome); otherwise an :class:`~truelift.result.EstimateSet` with one
estimate per (metric, arm vs control), the first one being the headline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import narwhals.stable.v1 as nw
import numpy as np

from truelift import _frame
from truelift.engines import lazy_frame
from truelift.errors import DataError, DesignError
from truelift.experiment import _moments as mo
from truelift.experiment._engine import lazy_stats
from truelift.experiment._stats import (
    Metric,
    SufficientStats,
    cluster_stats,
    mixed_clusters_error,
    row_comps,
)
from truelift.experiment._tails import heavy_tail_check, tail_stats
from truelift.experiment.srm import srm_check
from truelift.inference import adjust_pvalues, interval
from truelift.result import Diagnostic, Estimate, EstimateSet

__all__ = ["ab_test", "arm_order"]

Correction = Literal["holm", "bh"]
AdjustmentOpt = Literal["lin", "cuped"]


def arm_order(levels: np.ndarray, control: Any) -> list[int]:
    """Indices of ``levels``: the control first, then the others in their sorted order.

    With ``control=None``: 0 (or False) for a 0/1 variant, else a level called "control".
    """
    labels = list(levels)
    if control is None:
        as_text = [str(v).lower() for v in labels]
        numeric = all(isinstance(v, (bool, int, float, np.bool_, np.number)) for v in labels)
        if numeric and {float(v) for v in labels} <= {0.0, 1.0}:
            ci = [float(v) for v in labels].index(0.0)
        elif "control" in as_text:
            ci = as_text.index("control")
        else:
            raise DesignError(
                f"variant has levels {[str(v) for v in labels]}; name the control arm, e.g. "
                f"control={str(labels[0])!r} (only a 0/1 variant or a level called 'control' is "
                "recognised automatically)."
            )
    else:
        hits = [i for i, v in enumerate(labels) if v == control or str(v) == str(control)]
        if not hits:
            raise DesignError(
                f"control={control!r} is not a level of variant; levels: "
                f"{[str(v) for v in labels]}."
            )
        ci = hits[0]
    return [ci] + [i for i in range(len(labels)) if i != ci]


def _is_ratio_pair(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(v, str) for v in x)


def _metrics(outcome: Any, ratio: Any) -> tuple[list[Metric], dict[str, str]]:
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome or [])
    ratios = [ratio] if _is_ratio_pair(ratio) else list(ratio or [])
    if not outcomes and not ratios:
        raise DesignError("give at least one metric: outcome='col' and/or ratio=('num', 'den').")
    metrics: list[Metric] = []
    numeric: dict[str, str] = {}
    for i, name in enumerate(outcomes):
        role = "outcome" if i == 0 else f"outcome {i + 1}"
        numeric[role] = name
        metrics.append(Metric(str(name), "mean", (role,)))
    for i, pair in enumerate(ratios):
        if not _is_ratio_pair(pair):
            raise DesignError(
                f"ratio must be a (numerator, denominator) pair of column names; got {pair!r}."
            )
        rn, rd = (
            f"numerator {i + 1}" if i else "numerator",
            f"denominator {i + 1}" if i else ("denominator"),
        )
        numeric[rn], numeric[rd] = pair
        metrics.append(Metric(f"{pair[0]} / {pair[1]}", "ratio", (rn, rd)))
    labels = [m.label for m in metrics]
    if len(set(labels)) != len(labels):
        raise DesignError(f"metrics are listed twice: {labels}.")
    return metrics, numeric


def _validate(correction: Any, adjustment: Any, alpha: float, winsorize: Any) -> None:
    if correction not in (None, "holm", "bh"):
        raise DesignError(f"correction must be None, 'holm' or 'bh'; got {correction!r}.")
    if adjustment not in ("lin", "cuped"):
        raise DesignError(f"adjustment must be 'lin' or 'cuped'; got {adjustment!r}.")
    if not 0 < alpha < 1:
        raise DesignError(f"alpha must lie strictly between 0 and 1; got {alpha}.")
    if winsorize is not None and not 0.5 < float(winsorize) < 1:
        raise DesignError(
            f"winsorize must be an upper quantile in (0.5, 1), e.g. 0.99; got {winsorize!r}."
        )


def _winsorized(y: np.ndarray, q: float) -> np.ndarray:
    cap = float(np.quantile(y, q))
    return np.minimum(y, cap)


def _components(cols: _frame.Columns, metrics: list[Metric], winsor: float | None) -> np.ndarray:
    roles = [(j, role) for m in metrics for j, role in enumerate(m.columns)]
    C = np.empty((cols.n_obs, len(roles)), order="F")  # column-major: contiguous columns
    for i, (j, role) in enumerate(roles):
        v = cols[role]
        if winsor is not None and j == 0 and ((v != 0) & (v != 1)).any():
            v = _winsorized(v, winsor)
        C[:, i] = v
    return C


def _memory_stats(
    cols: _frame.Columns, metrics: list[Metric], winsor: float | None
) -> SufficientStats:
    """The kernel's sufficient statistics from in-memory rows (arms in level order)."""
    levels = cols.levels["variant"]
    L, code = levels.size, cols["variant"]
    C, X = _components(cols, metrics, winsor), np.asfortranarray(cols.X)
    n_rows = np.bincount(code, minlength=L)
    common: dict[str, Any] = {
        "levels": levels,
        "X_names": cols.X_names,
        "n_dropped": cols.n_dropped,
    }
    if "cluster" not in cols:
        tails = tuple(
            tail_stats(cols[m.columns[0]], code, L) if m.kind == "mean" else None for m in metrics
        )
        mom = mo.arm_moments(code, L, C, X)
        return SufficientStats(mom, row_comps(metrics), n_rows, n_rows, tails=tails, **common)
    g = cols["cluster"]
    G = int(g.max()) + 1
    arm_min = np.full(G, L)
    np.minimum.at(arm_min, g, code)
    arm_max = np.zeros(G, dtype=np.int64)
    np.maximum.at(arm_max, g, code)
    if (arm_min != arm_max).any():
        raise mixed_clusters_error(int((arm_min != arm_max).sum()))
    size = np.bincount(g, minlength=G).astype(float)
    S = np.column_stack([np.bincount(g, weights=C[:, i], minlength=G) for i in range(C.shape[1])])
    Xg = np.empty((G, 0))
    if X.shape[1]:
        Xg = np.column_stack(
            [np.bincount(g, weights=X[:, j], minlength=G) for j in range(X.shape[1])]
        )
    mom, comps, n_units, _ = cluster_stats(arm_max, size, S, Xg, metrics, L)
    return SufficientStats(mom, comps, n_units, n_rows, tails=(None,) * len(metrics), **common)


def _multiplicity(
    p: np.ndarray, conf: float, alpha: float, correction: Correction | None
) -> tuple[np.ndarray, float, str]:
    """Adjusted p-values, the interval level to use and a description."""
    m = p.size
    if correction is None or m == 1:
        return p, conf, "none"
    p_adj = adjust_pvalues(p.tolist(), correction)
    if correction == "holm":
        return p_adj, 1 - (1 - conf) / m, f"Holm p-values, Bonferroni {m}-way simultaneous CIs"
    r = max(int((p_adj < alpha).sum()), 1)
    return p_adj, 1 - r * (1 - conf) / m, f"BH p-values, Benjamini–Yekutieli FCR CIs (R={r})"


def _method(adjust: str | None, metric: Metric, clustered: bool) -> str:
    parts = [
        {
            None: "difference in means",
            "lin": "Lin (2013) interacted regression adjustment",
            "cuped": "CUPED (pooled-slope regression adjustment)",
        }[adjust]
    ]
    if metric.kind == "ratio":
        parts.append("ratio metric (delta method)")
    if clustered:
        parts.append("cluster-randomized (cluster-level delta method)")
    return ", ".join(parts)


def _estimand(metric: Metric, arm: str, ctrl: str, variant: str, unit: str | None) -> str:
    what = (
        f"mean {metric.label} per row"
        if metric.kind == "mean"
        else f"ratio of totals {metric.label}"
    )
    how = f"whole {unit} clusters randomized" if unit else "rows randomized"
    return (
        f"average effect of assigning {variant} = {arm} instead of {ctrl} on the {what} "
        f"(difference; {how})"
    )


@dataclass(frozen=True)
class _Fit:
    """Everything ab_test computed, before it is packaged into results."""

    metrics: list[Metric]
    arms: list[str]
    stats: SufficientStats  # arms reordered: control first
    am: mo.AdjustedMeans
    contrasts: dict[tuple[int, int], mo.Contrast]  # (metric index, arm index) -> contrast


def _fit(
    stats: SufficientStats, metrics: list[Metric], order: list[int], adjust: str | None
) -> _Fit:
    """The one kernel, whichever path computed the statistics."""
    st = stats.reordered(order)
    if (st.n_units < 2).any():
        raise DataError(
            f"every arm needs at least 2 randomized units; found {st.n_units.tolist()}."
        )
    am = mo.adjusted_means(st.mom, "none" if adjust is None else adjust)  # type: ignore[arg-type]
    contrasts = {
        (mi, a): mo.contrast(am, a, 0, st.comps[mi])
        for mi in range(len(metrics))
        for a in range(1, len(order))
    }
    return _Fit(metrics, [str(v) for v in st.levels], st, am, contrasts)


def _label(fit: _Fit, mi: int, a: int) -> str:
    many_arms, many_metrics = len(fit.arms) > 2, len(fit.metrics) > 1
    vs = f"{fit.arms[a]} vs {fit.arms[0]}"
    if many_arms and many_metrics:
        return f"{fit.metrics[mi].label}: {vs}"
    return vs if many_arms else fit.metrics[mi].label


def _estimate(
    fit: _Fit,
    key: tuple[int, int],
    *,
    p_adj: float,
    level: float,
    conf: float,
    ctx: dict[str, Any],
    diagnostics: tuple[Diagnostic, ...],
) -> Estimate:
    mi, a = key
    m, c = fit.metrics[mi], fit.contrasts[key]
    se = float(np.sqrt(c.var_diff))
    lo, hi, p = interval(c.diff, se, level)
    rse = float(np.sqrt(c.var_rel)) if np.isfinite(c.var_rel) else float("nan")
    rlo, rhi, _ = interval(c.rel, rse, level)
    comps = fit.stats.comps[mi]
    r2 = [float(fit.am.r2[arm, comps[0]]) for arm in (0, a)]
    return Estimate(
        estimate=c.diff,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf,
        p_value=p_adj if ctx["correction"] else p,
        n_obs=int(fit.stats.n_rows[0] + fit.stats.n_rows[a]),
        n_dropped=ctx["n_dropped"],
        estimand=_estimand(m, fit.arms[a], fit.arms[0], ctx["variant"], ctx["cluster"]),
        method=_method(ctx["adjustment"], m, ctx["cluster"] is not None),
        params={
            **ctx["params"],
            "metric": m.label,
            "metric_kind": m.kind,
            "treatment_arm": fit.arms[a],
        },
        diagnostics=diagnostics + ctx["extra"].get(key, ()),
        inference=ctx["inference"]
        + (f"; interval level {level:.4g} ({ctx['mult']})" if level != conf else ""),
        details={
            "means": {"control": c.value_c, "treatment": c.value_t},
            "se_means": {"control": float(np.sqrt(c.var_c)), "treatment": float(np.sqrt(c.var_t))},
            "arms": {"control": fit.arms[0], "treatment": fit.arms[a]},
            "n": {"control": int(fit.stats.n_rows[0]), "treatment": int(fit.stats.n_rows[a])},
            "n_units": {
                "control": int(fit.stats.n_units[0]),
                "treatment": int(fit.stats.n_units[a]),
            },
            "relative_lift": c.rel,
            "relative_se": rse,
            "relative_ci": [rlo, rhi],
            "p_value_unadjusted": p,
            "significant": bool((p_adj if ctx["correction"] else p) < ctx["alpha"]),
            "variance_explained": {"control": r2[0], "treatment": r2[1]},
            "transferred": fit.stats.transferred,
        },
    )


def _small_int_codes(v: np.ndarray, boolean: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """O(n) codes and levels of an integer variant with a small range (else None)."""
    lo, hi = float(v.min()), float(v.max())
    if hi - lo > 10_000:
        return None
    raw = (v - lo).astype(np.int64)
    present = np.flatnonzero(np.bincount(raw))
    values = present + int(lo)
    levels = values.astype(bool) if boolean else values
    if present.size == int(hi - lo) + 1:  # every value in the range occurs: codes are raw
        return raw, levels
    lookup = np.zeros(int(hi - lo) + 1, dtype=np.int64)
    lookup[present] = np.arange(present.size)
    return lookup[raw], levels


def _load(
    data: Any,
    *,
    numeric: dict[str, str],
    variant: str,
    cluster: str | None,
    covariates: Sequence[str] | None,
    missing: Any,
) -> _frame.Columns:
    frame = _frame.to_frame(data)
    dtype = frame.schema.get(variant) if isinstance(variant, str) else None
    fast = dtype is not None and (dtype.is_integer() or dtype == nw.Boolean)
    cols = _frame.load(
        data,
        numeric={**numeric, **({"variant": variant} if fast else {})},
        keys={"variant": None if fast else variant, "cluster": cluster},
        covariates=covariates,
        missing=missing,
        nonconstant=tuple(r for r in numeric if r.startswith("outcome")),
    )
    coded = _small_int_codes(cols["variant"], dtype == nw.Boolean) if fast else None
    if fast:  # integer / bool variant: code it in O(n) instead of sorting
        if coded is None:
            coded = np.unique(cols["variant"].astype(np.int64), return_inverse=True)[::-1]
        arrays = {**cols.arrays, "variant": coded[0]}
        cols = dataclasses.replace(cols, arrays=arrays, levels={**cols.levels, "variant": coded[1]})
    if cols.levels["variant"].size < 2:
        raise DataError(
            f"Variant column {variant!r} has a single value ({cols.levels['variant'][0]!r}) in "
            f"all {cols.n_obs:,} rows; an A/B test needs at least two arms."
        )
    return cols


def ab_test(
    data: Any,
    *,
    outcome: str | Sequence[str] | None = None,
    variant: str,
    control: Any = None,
    covariates: Sequence[str] | None = None,
    ratio: tuple[str, str] | Sequence[tuple[str, str]] | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
    correction: Correction | None = None,
    conf_level: float | None = None,
    adjustment: AdjustmentOpt = "lin",
    expected_split: Sequence[float] | None = None,
    winsorize: float | None = None,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate | EstimateSet:
    """Read out a randomized experiment: each arm against the control, for each metric.

    Args:
        data: pandas / polars / pyarrow table, one row per randomized unit (or per user within
            clusters when ``cluster`` is given).
        outcome: metric column(s); the effect is the difference in means.
        variant: the arm column (0/1, bool or labels).
        control: the control arm's label; default 0 (or False) for a 0/1 variant, or a level
            called "control".
        covariates: pre-treatment covariates (e.g. the pre-period metric) for regression
            adjustment (``adjustment="lin"``: Lin 2013, per-arm slopes; ``"cuped"``: pooled slope).
        ratio: ``(numerator, denominator)`` pair(s) for ratio-of-totals metrics (delta method).
        cluster: the randomization unit when whole clusters (workspaces) were randomized.
        alpha: significance level for ``details["significant"]`` and the BH interval count.
        correction: ``None``, ``"holm"`` or ``"bh"`` across every (metric, arm) comparison.
        conf_level: interval level; default ``1 - alpha``.
        expected_split: planned shares per arm (control first) for the SRM check; equal if None.
        winsorize: cap every non-binary outcome at this pooled upper quantile (e.g. 0.99).
        missing: ``"raise"`` or ``"drop"``.

    Returns:
        An :class:`Estimate` for one metric and two arms, else an :class:`EstimateSet` (one
        estimate per metric and arm vs control; the first is the headline).
    """
    conf = 1 - alpha if conf_level is None else conf_level
    _validate(correction, adjustment, alpha, winsorize)
    if not 0 < conf < 1:
        raise DesignError(f"conf_level must lie strictly between 0 and 1; got {conf}.")
    metrics, numeric = _metrics(outcome, ratio)
    roles: dict[str, Any] = {
        "variant": variant,
        "cluster": cluster,
        "covariates": covariates,
        "missing": missing,
    }
    lf = lazy_frame(data)
    if lf is not None:  # aggregate inside the engine: only sums leave it
        stats = lazy_stats(lf, metrics=metrics, numeric=numeric, winsor=winsorize, **roles)
    else:
        stats = _memory_stats(_load(data, numeric=numeric, **roles), metrics, winsorize)
    order = arm_order(stats.levels, control)
    adjust = adjustment if stats.X_names else None
    fit = _fit(stats, metrics, order, adjust)
    srm = srm_check(
        fit.stats.n_units,
        fit.arms,
        expected_split=expected_split,
        unit="clusters" if cluster else "rows",
    )
    params = {
        "design": "experiment",
        "analysis": "ab_test",
        "outcome": outcome,
        "variant": variant,
        "control": fit.arms[0],
        "arms": fit.arms,
        "covariates": list(stats.X_names),
        "ratio": ratio,
        "cluster": cluster,
        "alpha": alpha,
        "correction": correction,
        "conf_level": conf,
        "adjustment": adjust,
        "expected_split": expected_split,
        "winsorize": winsorize,
        "missing": missing,
        "engine": stats.engine,
    }
    return _package(fit, params, srm)


def _package(fit: _Fit, params: dict[str, Any], srm: Diagnostic) -> Estimate | EstimateSet:
    """Multiplicity, per-comparison diagnostics and the result objects."""
    conf, alpha, correction = params["conf_level"], params["alpha"], params["correction"]
    keys = sorted(fit.contrasts)
    p_raw = np.array(
        [
            interval(fit.contrasts[k].diff, float(np.sqrt(fit.contrasts[k].var_diff)), conf)[2]
            for k in keys
        ]
    )
    p_adj, level, mult = _multiplicity(p_raw, conf, alpha, correction)
    extra: dict[tuple[int, int], tuple[Diagnostic, ...]] = {}
    for k in keys:
        tail = fit.stats.tails[k[0]]
        if tail is not None:
            extra[k] = (heavy_tail_check(fit.metrics[k[0]].label, tail, k[1], 0, alpha),)
    inference = (
        "Welch / HC sandwich variance from per-arm sufficient statistics (delta method for "
        "ratios" + (", cluster-level" if params["cluster"] else "") + "), normal interval"
    )
    ctx = {
        "correction": correction,
        "n_dropped": fit.stats.n_dropped,
        "variant": params["variant"],
        "cluster": params["cluster"],
        "adjustment": params["adjustment"],
        "params": params,
        "extra": extra,
        "inference": inference,
        "mult": mult,
        "alpha": alpha,
    }
    ests = [
        (
            _label(fit, *k),
            _estimate(
                fit, k, p_adj=float(p_adj[i]), level=level, conf=conf, ctx=ctx, diagnostics=(srm,)
            ),
        )
        for i, k in enumerate(keys)
    ]
    if len(ests) == 1:
        return ests[0][1]
    return EstimateSet(
        title=f"A/B test on {params['variant']}: {len(fit.arms)} arms, "
        f"{len(fit.metrics)} metric(s)",
        estimates=tuple(ests),
        method=ests[0][1].method,
        headline=ests[0][0],
        params=params,
        diagnostics=(srm,),
        details={
            "multiplicity": mult,
            "n_comparisons": len(ests),
            "arm_counts": fit.stats.n_units.tolist(),
            "transferred": fit.stats.transferred,
        },
    )
