"""``synth()``: the public synthetic-control estimator (one treated unit, no holdout).

Methods: ``"sc"`` (Abadie, Diamond & Hainmueller 2010; predictors with nested ``V`` when given),
``"demeaned"`` (Doudchenko & Imbens 2016; Ferman & Pinto 2021), ``"sdid"`` (Arkhangelsky et al.
2021, as the R package synthdid) and ``"augmented"`` (ridge ASCM, Ben-Michael, Feller & Rothstein
2021). Several treated units are averaged into one treated path (synthetic DiD keeps their number
in its regularisation, as synthdid's collapsed form does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

from truelift import _frame
from truelift.engines import lazy_frame
from truelift.errors import DesignError
from truelift.result import Diagnostic, Estimate
from truelift.synth import diagnostics as diag
from truelift.synth._engine import cells_from_engine
from truelift.synth._fit import Fit, Method, fit_outcome, fit_predictors
from truelift.synth._panel import (
    Panel,
    cells_in_memory,
    panel_from_cells,
    predictor_columns,
    predictor_matrix,
)
from truelift.synth.inference import jackknife, placebo_space, placebo_time

__all__ = ["synth"]

Inference = Literal["placebo", "jackknife", "placebo_time"]
METHODS = ("sc", "demeaned", "sdid", "augmented")
INFERENCES = ("placebo", "jackknife", "placebo_time", None)
_METHOD_NAMES = {
    "sc": "synthetic control (Abadie, Diamond & Hainmueller 2010)",
    "demeaned": "demeaned synthetic control (Ferman & Pinto 2021)",
    "sdid": "synthetic difference-in-differences (Arkhangelsky et al. 2021)",
    "augmented": "ridge augmented synthetic control (Ben-Michael, Feller & Rothstein 2021)",
}


def _validate(method: Any, inference: Any, conf_level: float, rng: Any, predictors: Any) -> None:
    if method not in METHODS:
        raise DesignError(f"method must be one of {METHODS}; got {method!r}.")
    if inference not in INFERENCES:
        raise DesignError(f"inference must be one of {INFERENCES}; got {inference!r}.")
    if not 0 < conf_level < 1:
        raise DesignError(f"conf_level must lie in (0, 1); got {conf_level!r}.")
    if rng is not None and not isinstance(rng, (int, np.integer, np.random.Generator)):
        raise DesignError(f"rng must be an int, a numpy Generator or None; got {type(rng)}.")
    if predictors is not None:
        if method != "sc":
            raise DesignError(
                f"predictors are used by method='sc' (ADH predictor matching); method={method!r} "
                "fits on the outcome path only. Drop predictors or use method='sc'."
            )
        if inference == "placebo_time":
            raise DesignError(
                "inference='placebo_time' refits on truncated outcome paths and does not support "
                "predictors; use inference='placebo'."
            )


def _json(values: np.ndarray) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


def _fit(
    panel: Panel,
    method: Method,
    *,
    predictors: Sequence[Any] | None,
    fit_window: Any,
    v: Any,
    ridge: float | None,
) -> tuple[Fit, Any]:
    y1, T0 = panel.y1, panel.T0
    if predictors is None:
        n1 = panel.Y1.shape[0]
        return fit_outcome(method, panel.Y0, y1, T0, n_treated=n1, ridge=ridge), None
    X, labels = predictor_matrix(panel, predictors)
    J = panel.Y0.shape[0]
    X0, X1 = X[:, :J], X[:, J:].mean(axis=1)
    if fit_window is None:
        cols = np.arange(T0)
    else:
        lo, hi = fit_window
        cols = np.flatnonzero((panel.times >= lo) & (panel.times <= hi))
        if cols.size == 0:
            raise DesignError(f"fit_window {fit_window!r} contains no period of the data.")
    vv = None if v is None else np.asarray(v, dtype=float)
    if vv is not None and vv.size != X.shape[0]:
        raise DesignError(f"v has {vv.size} entries; there are {X.shape[0]} predictors.")
    f = fit_predictors(panel.Y0, y1, T0, X0, X1, cols, v=vv)
    f.extra["predictor_labels"] = labels
    f.extra["X1"], f.extra["X0w"] = X1, X0 @ f.weights
    return f, (X0, cols)


def _interval(
    est: float, se: float, conf_level: float, p: float | None
) -> tuple[float, float, float]:
    if not np.isfinite(se):
        return float("nan"), float("nan"), (float("nan") if p is None else p)
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    if p is None:
        p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else float("nan")
    return est - z * se, est + z * se, p


def _inference(
    kind: Any, method: Method, panel: Panel, fit: Fit, pred: Any, ridge: float | None, flt: float
) -> tuple[float, float | None, str, dict[str, Any]]:
    """Standard error, p-value (None: from the normal), description and plot details."""
    if kind is None:
        return float("nan"), float("nan"), "none requested", {}
    lam = fit.extra.get("ridge_lambda", ridge)  # placebos reuse the treated fit's ridge penalty
    if kind == "placebo":
        pl = placebo_space(method, panel.Y0, fit, ridge=lam, predictors=pred, filter=flt)
        keep = np.flatnonzero(pl.kept)[:100]
        det = {
            "placebo_effects": pl.effects.tolist(),
            "placebo_gaps": pl.gaps[keep].tolist(),
            "placebo_units": _json(panel.donors[keep]),
            "placebo_filtered": pl.n_filtered,
            "placebo_filter": f"pre-period MSPE <= {flt:g} x the treated unit's",
            "rmspe_ratio": pl.treated_ratio,
        }
        head = (
            f"placebo-in-space over {len(pl.effects)} donors: SE = sd of the placebo effects "
            "(Arkhangelsky et al. 2021, Alg. 4), normal interval; "
        )
        kept = f"{int(pl.kept.sum())} placebos ({pl.n_filtered} filtered for pre-fit worse than "
        kept += f"{flt:g}x the treated unit's MSPE)"
        if not pl.kept.any():
            text = (
                head + f"p from the normal approximation: the rank p-value is undefined with {kept}"
            )
            return pl.std_error, None, text, det
        text = head + f"p = rank of the post/pre RMSPE ratio among {kept}"
        return pl.std_error, pl.p_value, text, det
    if kind == "placebo_time":
        fakes, eff = placebo_time(method, panel.Y0, panel.y1, panel.T0, ridge=ridge)
        se = float(np.sqrt(np.mean(eff**2)))
        p = (1 + int(np.sum(np.abs(eff) >= abs(fit.effect)))) / (1 + eff.size)
        det = {"placebo_times": _json(panel.times[fakes]), "placebo_time_effects": eff.tolist()}
        text = (
            f"placebo-in-time at {eff.size} fake launch periods: SE = root mean square of the fake "
            "effects, normal interval; p = rank of |effect| among them"
        )
        return se, float(p), text, det
    refit = None
    if pred is not None:
        X0, cols = pred

        def refit(keep: np.ndarray) -> Fit:
            return fit_predictors(
                panel.Y0[keep],
                panel.y1,
                panel.T0,
                X0[:, keep],
                fit.extra["X1"],
                cols,
                v=fit.extra["v"],
            )

    se, loo, name = jackknife(method, panel.Y0, panel.Y1, fit, ridge=lam, refit=refit)
    det = {"leave_one_out": loo.tolist()} if loo.size else {}
    return se, None, f"{name}, normal interval", det


def _details(panel: Panel, fit: Fit) -> dict[str, Any]:
    order = np.argsort(-np.abs(fit.weights))
    nz = [i for i in order if abs(fit.weights[i]) > 1e-6][:50]
    det: dict[str, Any] = {
        "times": _json(panel.times),
        "treatment_index": panel.T0,
        "treated": (fit.gap + fit.counterfactual).tolist(),
        "synthetic": fit.counterfactual.tolist(),
        "gap": fit.gap.tolist(),
        "effects": fit.gap[panel.T0 :].tolist(),
        "weights": {str(panel.donors[i]): float(fit.weights[i]) for i in nz},
        "pre_rmspe": fit.pre_rmspe,
        "post_rmspe": fit.post_rmspe,
    }
    if fit.time_weights is not None:
        det["time_weights"] = {
            str(panel.times[t]): float(w) for t, w in enumerate(fit.time_weights) if w > 1e-6
        }
    if "v" in fit.extra:
        det["v"] = fit.extra["v"].tolist()
        det["predictors"] = list(fit.extra["predictor_labels"])
        det["predictor_balance"] = {
            "treated": fit.extra["X1"].tolist(),
            "synthetic": fit.extra["X0w"].tolist(),
        }
    return det


def _panel(
    data: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str | None,
    treated_unit: Any,
    treatment_time: Any,
    predictors: Sequence[Any] | None,
    missing: _frame.MissingPolicy,
) -> Panel:
    """Unit-period cells (in the engine for a lazy table, with numpy otherwise), then the panel."""
    if treatment is None and (treated_unit is None or treatment_time is None):
        raise DesignError(
            "say which unit is treated and when: pass treatment= (a 0/1 column marking the "
            "treated unit's post-launch periods) or both treated_unit= and treatment_time=."
        )
    cols = predictor_columns(predictors)
    lf = lazy_frame(data)
    if lf is not None:
        cells = cells_from_engine(
            lf, outcome=outcome, unit=unit, time=time, treatment=treatment, predictors=cols,
            missing=missing,
        )  # fmt: skip
    else:
        cells = cells_in_memory(
            data, outcome=outcome, unit=unit, time=time, treatment=treatment, predictors=cols,
            missing=missing,
        )  # fmt: skip
    return panel_from_cells(
        cells, time=time, treated_unit=treated_unit, treatment_time=treatment_time, missing=missing
    )


def synth(
    data: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str | None = None,
    treated_unit: Any = None,
    treatment_time: Any = None,
    method: Method = "sc",
    predictors: Sequence[Any] | None = None,
    fit_window: tuple[Any, Any] | None = None,
    v: Sequence[float] | None = None,
    inference: Inference | None = "placebo",
    placebo_filter: float = 5.0,
    ridge: float | None = None,
    rng: int | np.random.Generator | None = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Effect of a launch on one treated unit, against a synthetic control built from donors.

    Args:
        data: long table (pandas / polars / pyarrow), one row per unit and period or several
            (user-level rows: the panel is their mean per unit and period); or a lazy table
            (DuckDB relation, polars LazyFrame, PySpark / Spark Connect DataFrame), aggregated
            to that panel by one group-by inside its engine (``params["engine"]``;
            ``details["transferred"]`` says what left it).
        outcome, unit, time: column names.
        treatment: 0/1 column marking the treated unit's post-launch periods; or give
            ``treated_unit`` (a label, or several to average) and ``treatment_time`` (first
            treated period). Units never treated are the donors.
        method: ``"sc"``, ``"demeaned"``, ``"sdid"`` or ``"augmented"``.
        predictors: for ``"sc"``: ADH predictors, each a column name (mean over the pre-period)
            or ``(column, periods)``: one period, an inclusive ``(first, last)`` tuple or a list.
        fit_window: ``(first, last)`` periods whose outcome gap the predictor weights ``V``
            minimise (Synth's ``time.optimize.ssr``); default all pre-periods.
        v: fixed predictor weights (Synth's ``custom.v``) instead of optimising them.
        inference: ``"placebo"`` (in space), ``"placebo_time"``, ``"jackknife"`` or ``None``.
        placebo_filter: placebos whose pre-period MSPE exceeds this multiple of the treated
            unit's are left out of the rank p-value (ADH 2010 use 5).
        ridge: the augmented method's ridge penalty (default chosen by cross-validation).
        rng: accepted for the common signature; every inference here is deterministic.
        conf_level: interval level. missing: ``"raise"`` or ``"drop"`` (donors with gaps).

    Returns:
        an :class:`Estimate` of the ATT averaged over the post-launch periods, with per-period
        gaps, donor weights and placebo paths in ``details``.
    """
    _validate(method, inference, conf_level, rng, predictors)
    panel = _panel(
        data,
        outcome=outcome,
        unit=unit,
        time=time,
        treatment=treatment,
        treated_unit=treated_unit,
        treatment_time=treatment_time,
        predictors=predictors,
        missing=missing,
    )
    fit, pred = _fit(
        panel,
        method,
        predictors=predictors,
        fit_window=fit_window,
        v=v,
        ridge=ridge,
    )
    est = fit.effect
    se, p, text, inf_details = _inference(
        inference, method, panel, fit, pred, ridge, placebo_filter
    )
    lo, hi, pv = _interval(est, se, conf_level, p)
    diagnostics: tuple[Diagnostic, ...] = (
        diag.pre_fit(fit, panel.Y0, method),
        diag.convex_hull(method, panel.Y0, panel.y1, panel.T0),
        diag.concentration(fit.weights, panel.donors),
    )
    warn = []
    if inference == "placebo" and inf_details.get("placebo_filtered") == panel.Y0.shape[0]:
        warn.append(
            f"every placebo's pre-period MSPE exceeds {placebo_filter:g}x the treated unit's, so "
            "none is left for the rank p-value; the p-value is the normal one from the placebo "
            "SE. Raise placebo_filter to rank against placebos with a worse pre-fit."
        )
    n1 = panel.Y1.shape[0]
    if n1 > 1 and inference in ("placebo", "placebo_time"):
        warn.append(
            f"{n1} treated units are averaged into one treated path; placebos use single donors, "
            "so the interval overstates the noise of an average (it is conservative)."
        )
    T1 = panel.times.size - panel.T0
    params = {
        "design": "synth",
        "method": method,
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "treated_units": _json(panel.treated),
        "treatment_time": _json(panel.times[panel.T0 : panel.T0 + 1])[0],
        "n_donors": int(panel.Y0.shape[0]),
        "n_pre": int(panel.T0),
        "n_post": int(T1),
        "inference": inference,
        "placebo_filter": placebo_filter,
        "predictors": None if predictors is None else [str(p) for p in predictors],
        "engine": panel.engine,
    }
    for key in ("ridge_lambda", "zeta_omega", "noise_level"):
        if key in fit.extra:
            params[key] = float(fit.extra[key])
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=pv,
        n_obs=panel.n_obs,
        n_dropped=panel.n_dropped,
        estimand=(
            f"ATT: mean over the {T1} post-launch periods of {outcome} of the treated unit"
            f"{'s (averaged)' if n1 > 1 else ''} minus its synthetic counterfactual"
        ),
        method=_METHOD_NAMES[method],
        params=params,
        diagnostics=diagnostics,
        warnings=tuple(warn),
        inference=text,
        details={**_details(panel, fit), **inf_details, "transferred": panel.transferred},
    )
