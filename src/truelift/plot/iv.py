"""Plots for instrumental-variables results (:func:`truelift.iv.iv`).

A pure function of the result's ``details``: with randomized access (binary instrument and
treatment), take-up and mean outcome by access arm (the first stage and the ITT made visible);
always, the Anderson–Rubin statistic against the hypothesised effect, its critical value, the AR
confidence set (shaded) and the 2SLS / Wald point estimate.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure

__all__ = ["plot"]

_ARM_COLOURS = {"access": "#1f5fa8", "no access": "#999999"}


def _arms_panels(
    fig: Figure, axes: list[Any], arms: dict[str, Any], params: dict[str, Any]
) -> None:
    names = ["no access", "access"]
    take = [arms[a]["take_up"] for a in names]
    means = [arms[a]["mean_outcome"] for a in names]
    colours = [_ARM_COLOURS[a] for a in names]
    ax = axes[0]
    ax.bar(names, take, color=colours)
    ax.set_ylim(0, max(1.0, max(take) * 1.1))
    ax.set_ylabel(f"share using {params.get('treatment', 'treatment')}")
    ax.set_title("First stage: take-up by arm", fontsize=10)
    for i, v in enumerate(take):
        ax.annotate(f"{v:.3f}", (i, v), ha="center", va="bottom", fontsize=8)
    ax = axes[1]
    ax.bar(names, means, color=colours)
    ax.set_ylabel(f"mean {params.get('outcome', 'outcome')}")
    ax.set_title("ITT: outcome by arm", fontsize=10)
    for i, v in enumerate(means):
        ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8)


def _ar_panel(ax: Any, details: dict[str, Any], label: str, conf_level: float) -> None:
    curve = details["ar_curve"]
    b, stat = curve["b"], curve["stat"]
    crit = details["ar_critical_value"]
    ax.plot(b, stat, color="#1f5fa8", lw=1.5, label="Anderson–Rubin statistic")
    ax.axhline(crit, color="#c23b22", lw=1, ls="--", label=f"{100 * conf_level:g}% critical value")
    lo_b, hi_b = min(b), max(b)
    for lo, hi in details["ar_set"]:
        lo_v = lo_b if lo is None or math.isinf(lo) else max(lo, lo_b)
        hi_v = hi_b if hi is None or math.isinf(hi) else min(hi, hi_b)
        if hi_v > lo_v:
            ax.axvspan(lo_v, hi_v, color="#1f5fa8", alpha=0.12)
    est = details["tsls"]["estimate"]
    ax.axvline(est, color="black", lw=1, label=f"{label} estimate {est:.4g}")
    ax.set_xlim(lo_b, hi_b)
    ax.set_ylim(0, max(crit * 3, min(max(stat), crit * 10)))
    ax.set_xlabel("hypothesised effect b")
    ax.set_ylabel("AR(b)")
    kind = "headline" if details.get("headline_interval") == "anderson-rubin" else "robust check"
    ax.set_title(f"Anderson–Rubin set (shaded, {kind}):\n{details['ar_set_text']}", fontsize=9)
    ax.legend(loc="best", fontsize=7)


def plot(result: Any, **kwargs: Any) -> Figure:
    """Take-up and outcome by access arm (randomized access) and the Anderson–Rubin curve."""
    details = dict(result.details)
    params = dict(result.params)
    arms = details.get("arms")
    headline = getattr(result, "headline", None) or "2SLS"
    conf = float(result[headline].conf_level) if hasattr(result, "estimates") else 0.95
    ncols = 3 if arms else 1
    fig = Figure(figsize=(4.0 * ncols if arms else 6.4, 3.6))
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    if arms:
        _arms_panels(fig, axes, arms, params)
    _ar_panel(axes[-1], details, headline, conf)
    if kwargs.get("title"):
        fig.suptitle(str(kwargs["title"]), fontsize=11)
    fig.tight_layout()
    return fig
