"""Plots of experiment results (pure functions of ``details``/``params``; no statistics here).

* A/B readout: arm means with their intervals beside the relative lift with its interval (one
  row per comparison for an EstimateSet).
* Sequential test: the running estimate with the always-valid confidence sequence and the naive
  fixed-horizon interval at each look.
* Switchback: the slot means coloured by arm, and the per-lag exposure effects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from truelift.result import Estimate, EstimateSet

__all__ = ["plot"]

_BLUE, _GREY, _RED = "#1f5fa8", "#8a8a8a", "#c23b22"


def plot(result: Any, **kwargs: Any) -> Figure:
    """Dispatch on ``result.params["analysis"]``."""
    analysis = result.params.get("analysis")
    if analysis == "sequential":
        return _sequential(result, **kwargs)
    if analysis == "switchback":
        return _switchback(result, **kwargs)
    return _readout(result, **kwargs)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _readout(result: Estimate | EstimateSet, *, title: str | None = None) -> Figure:
    items = [("", result)] if isinstance(result, Estimate) else list(result.estimates)
    fig = Figure(figsize=(9, 1.6 + 0.6 * max(len(items), 2)))
    ax_m, ax_r = fig.subplots(1, 2)
    ys = np.arange(len(items))[::-1]
    for y, (_label, e) in zip(ys, items, strict=True):
        z = _z(e.conf_level)
        colour = _GREY if e.status == "withheld" else _BLUE
        means, ses = e.details["means"], e.details["se_means"]
        for off, arm, mark in ((0.12, "treatment", "o"), (-0.12, "control", "s")):
            ax_m.errorbar(
                means[arm],
                y + off,
                xerr=z * ses[arm],
                fmt=mark,
                color=colour,
                capsize=3,
                label=arm if y == ys[0] else None,
            )
        rel, (lo, hi) = e.details["relative_lift"], e.details["relative_ci"]
        ax_r.errorbar(
            100 * rel,
            y,
            xerr=[[100 * (rel - lo)], [100 * (hi - rel)]],
            fmt="o",
            color=colour,
            capsize=3,
        )
    labels = [
        lab or f"{e.details['arms']['treatment']} vs {e.details['arms']['control']}"
        for lab, e in items
    ]
    ax_m.set_yticks(ys, labels)
    ax_r.set_yticks(ys, [""] * len(ys))
    ax_m.set_xlabel("arm mean (treatment o, control s)")
    ax_m.legend(loc="best", fontsize=8)
    ax_r.axvline(0, color="black", lw=0.8, ls="--")
    ax_r.set_xlabel("relative lift (%)")
    level = items[0][1].conf_level
    fig.suptitle(title or f"A/B readout with {100 * level:g}% intervals", fontsize=10)
    fig.tight_layout()
    return fig


def _sequential(
    result: Estimate, *, truth: float | None = None, title: str | None = None
) -> Figure:
    lk = result.details["looks"]
    n = np.asarray(lk["n"])
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.fill_between(
        n,
        lk["cs_low"],
        lk["cs_high"],
        color=_BLUE,
        alpha=0.2,
        label="always-valid confidence sequence",
    )
    ax.plot(n, lk["fixed_low"], color=_GREY, ls=":", label="fixed-horizon interval (naive)")
    ax.plot(n, lk["fixed_high"], color=_GREY, ls=":")
    ax.plot(n, lk["est"], color=_BLUE, marker="o", ms=3, label="estimate")
    ax.axhline(0, color="black", lw=0.8, ls="--")
    if truth is not None:
        ax.axhline(truth, color=_RED, lw=1.2, label=f"truth {truth:.4g}")
    ax.set_xlabel("units observed")
    ax.set_ylabel("effect")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "Sequential monitoring: safe to peek at every look", fontsize=10)
    fig.tight_layout()
    return fig


def _switchback(result: Estimate, *, title: str | None = None) -> Figure:
    d = result.details
    y, w = np.asarray(d["slot_mean"]), np.asarray(d["slot_treatment"])
    fig = Figure(figsize=(9, 3.6))
    ax_t, ax_l = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    t = np.arange(y.size)
    ax_t.plot(t, y, color=_GREY, lw=0.6)
    ax_t.scatter(t[w == 1], y[w == 1], s=6, color=_BLUE, label="treated slot")
    ax_t.scatter(t[w == 0], y[w == 0], s=6, color=_RED, label="control slot")
    ax_t.set_xlabel("time slot")
    ax_t.set_ylabel("slot mean outcome")
    ax_t.legend(loc="best", fontsize=8)
    lags = np.arange(len(d["lag_effects"]))
    z = _z(result.conf_level)
    ax_l.bar(lags, d["lag_effects"], yerr=z * np.asarray(d["lag_se"]), color=_BLUE, capsize=3)
    ax_l.axhline(0, color="black", lw=0.8)
    ax_l.set_xticks(lags, [f"lag {k}" for k in lags])
    ax_l.set_ylabel("exposure effect")
    fig.suptitle(title or f"Switchback: total effect {result.estimate:+.4g}", fontsize=10)
    fig.tight_layout()
    return fig
