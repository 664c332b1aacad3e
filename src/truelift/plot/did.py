"""Difference-in-differences plots: event study with intervals, group means over time with the
counterfactual path, the Goodman-Bacon decomposition, and ATT(g,t) by event time.

Pure functions of a result's ``details`` and ``params`` (nothing is estimated here); matplotlib's
object API, so any backend renders them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from truelift.plot._forest import forest

__all__ = ["bacon_plot", "event_study_plot", "group_means_plot", "plot"]

_BLUE, _RED, _GREY = "#1f5fa8", "#c23b22", "#777777"
_COLOURS = ("#1f5fa8", "#c23b22", "#2a9d8f", "#e9a23b", "#6a4c93", "#8d6e63", "#43aa8b")


def _event_arrays(result: Any) -> dict[str, Any] | None:
    """Event times, estimates and interval bounds from an event study or a dynamic CS result."""
    det = result.details
    if "event_study" in det:
        return dict(det["event_study"])
    agg = det.get("aggregation")
    if isinstance(agg, Mapping) and agg.get("kind") == "dynamic" and agg.get("key"):
        return {
            "event_time": list(agg["key"]),
            "estimate": list(agg["att"]),
            "ci_low": list(agg["ci_low"]),
            "ci_high": list(agg["ci_high"]),
            "reference": None,
        }
    return None


def event_study_plot(
    result: Any, *, truth: Mapping[int, float] | None = None, title: str | None = None
) -> Figure:
    """Coefficients by event time with their intervals; the reference period at zero."""
    ev = _event_arrays(result)
    if ev is None:
        return forest(result, title=title)
    x = np.asarray(ev["event_time"], dtype=float)
    b = np.asarray(ev["estimate"], dtype=float)
    lo, hi = np.asarray(ev["ci_low"], dtype=float), np.asarray(ev["ci_high"], dtype=float)
    fig = Figure(figsize=(6.8, 3.8))
    ax = fig.add_subplot()
    pre = x < 0
    for mask, colour, label in ((pre, _GREY, "pre-adoption"), (~pre, _BLUE, "post-adoption")):
        if mask.any():
            ax.errorbar(
                x[mask],
                b[mask],
                yerr=[b[mask] - lo[mask], hi[mask] - b[mask]],
                fmt="o",
                color=colour,
                capsize=3,
                label=label,
            )
    ref = ev.get("reference")
    if ref is not None:
        ax.plot([ref], [0.0], marker="D", color="black", ls="none", label=f"reference (e={ref})")
    if truth:
        tx = sorted(truth)
        ax.plot(tx, [truth[k] for k in tx], color=_RED, lw=1.2, label="truth")
    ax.axhline(0, color="black", lw=0.8, ls="--")
    ax.axvline(-0.5, color=_GREY, lw=0.8, ls=":")
    ax.set_xlabel("event time (periods since adoption)")
    ax.set_ylabel("effect")
    level = getattr(result, "headline_estimate", None)
    cl = level.conf_level if level is not None else 0.95
    ax.set_title(title or f"Event study with {100 * cl:g}% intervals", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def _cohort_label(c: Any) -> str:
    if c is None or c == 0:
        return "never treated"
    return f"cohort {int(c)}" if isinstance(c, float) and c.is_integer() else f"cohort {c}"


def group_means_plot(result: Any, *, title: str | None = None) -> Figure:
    """Mean outcome per cohort over time (solid) and, after adoption, the counterfactual path
    implied by the estimates (dashed): observed minus the estimated effect."""
    det = result.details
    fig = Figure(figsize=(6.8, 3.8))
    ax = fig.add_subplot()
    if "cell_means" in det:  # 2x2
        cm = det["cell_means"]
        ax.plot([0, 1], [cm["control_pre"], cm["control_post"]], "o-", color=_GREY, label="control")
        ax.plot([0, 1], [cm["treated_pre"], cm["treated_post"]], "o-", color=_BLUE, label="treated")
        cf = cm["treated_pre"] + cm["control_post"] - cm["control_pre"]
        ax.plot(
            [0, 1],
            [cm["treated_pre"], cf],
            "o--",
            color=_BLUE,
            alpha=0.6,
            label="treated counterfactual (parallel trends)",
        )
        ax.set_xticks([0, 1], ["pre", "post"])
    else:
        gm = det.get("group_means") or {}
        times = list(gm.get("times", []))
        x = np.arange(len(times)) if times and isinstance(times[0], str) else np.asarray(times)
        for i, (c, m) in enumerate(zip(gm.get("cohorts", []), gm.get("means", []), strict=True)):
            colour = _GREY if c is None or c == 0 else _COLOURS[i % len(_COLOURS)]
            ax.plot(x, np.asarray(m, dtype=float), "-", color=colour, label=_cohort_label(c))
            cf = np.asarray(gm["counterfactual"][i], dtype=float)
            if np.isfinite(cf).any():
                ax.plot(x, cf, "--", color=colour, alpha=0.7)
        if times and isinstance(times[0], str):
            ax.set_xticks(x, times)
        ax.plot([], [], "--", color="black", alpha=0.7, label="counterfactual (no feature)")
        ax.set_xlabel(str(result.params.get("time", "period")))
    ax.set_ylabel(str(result.params.get("outcome", "outcome")))
    ax.set_title(title or "Group means over time and the counterfactual path", fontsize=10)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    return fig


def bacon_plot(result: Any, *, title: str | None = None) -> Figure:
    """Every 2x2 comparison: its estimate against its weight, coloured by type; the TWFE line."""
    rows = result.details.get("comparisons", [])
    fig = Figure(figsize=(6.8, 4.4))
    ax = fig.add_subplot()
    kinds = list(dict.fromkeys(r["type"] for r in rows))
    for i, kind in enumerate(kinds):
        sel = [r for r in rows if r["type"] == kind]
        ax.scatter(
            [r["weight"] for r in sel],
            [r["estimate"] for r in sel],
            color=_COLOURS[i % len(_COLOURS)],
            label=kind,
        )
    ax.axhline(result.estimate, color="black", lw=1.0, label=f"TWFE {result.estimate:.4g}")
    ax.axhline(0, color=_GREY, lw=0.8, ls="--")
    ax.set_xlabel("weight in the TWFE coefficient")
    ax.set_ylabel("2x2 DiD estimate")
    ax.set_title(title or "Goodman-Bacon decomposition of TWFE", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7)
    fig.tight_layout()
    return fig


def att_gt_plot(result: Any, *, title: str | None = None) -> Figure:
    """ATT(g,t) by event time, one series per cohort (Callaway & Sant'Anna results)."""
    gt = result.details["att_gt"]
    fig = Figure(figsize=(6.8, 3.8))
    ax = fig.add_subplot()
    groups = np.asarray(gt["group"])
    for i, g in enumerate(np.unique(groups)):
        m = groups == g
        e = np.asarray(gt["event_time"])[m]
        b = np.asarray(gt["att"], dtype=float)[m]
        lo = np.asarray(gt["ci_low"], dtype=float)[m]
        hi = np.asarray(gt["ci_high"], dtype=float)[m]
        ax.errorbar(
            e + 0.08 * i,
            b,
            yerr=[b - lo, hi - b],
            fmt="o",
            capsize=2,
            color=_COLOURS[i % len(_COLOURS)],
            label=f"cohort {g}",
        )
    ax.axhline(0, color="black", lw=0.8, ls="--")
    ax.set_xlabel("event time (t - g)")
    ax.set_ylabel("ATT(g,t)")
    ax.set_title(title or "Group-time average effects", fontsize=10)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    return fig


def plot(result: Any, *, kind: str | None = None, **kwargs: Any) -> Figure:
    """The default DiD figure for ``result``; ``kind`` picks one: ``"event"``, ``"paths"``,
    ``"bacon"``, ``"att_gt"`` (the default follows the estimator)."""
    est = str(result.params.get("estimator", ""))
    if kind is None:
        kind = {"event_study": "event", "did_2x2": "paths", "twfe": "paths", "bacon": "bacon"}.get(
            est, "event" if _event_arrays(result) is not None else "att_gt"
        )
    if kind == "event":
        return event_study_plot(result, **kwargs)
    if kind == "paths":
        return group_means_plot(result, **kwargs)
    if kind == "bacon":
        return bacon_plot(result, **kwargs)
    if kind == "att_gt" and "att_gt" in result.details:
        return att_gt_plot(result, **kwargs)
    return forest(result, **kwargs)
