"""Synthetic-control plots: treated vs synthetic paths, the gap among placebo gaps, donor weights.

Pure functions of a ``synth()`` result's ``details`` (no statistic is computed here).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["gap_plot", "paths_plot", "plot", "weights_plot"]

_TREATED, _SYNTH, _PLACEBO = "#1f5fa8", "#c23b22", "#bbbbbb"


def _x(det: dict[str, Any]) -> np.ndarray:
    times = det["times"]
    try:
        return np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        return np.arange(len(times), dtype=float)


def _launch_line(ax: Any, det: dict[str, Any]) -> None:
    x = _x(det)
    ax.axvline(x[det["treatment_index"]], color="black", lw=0.8, ls=":")


def paths_plot(result: Any, ax: Any = None) -> Figure:
    """The treated unit's outcome and its synthetic counterfactual over time."""
    det = dict(result.details)
    fig = ax.figure if ax is not None else Figure(figsize=(6.4, 3.6))
    ax = ax if ax is not None else fig.add_subplot()
    x = _x(det)
    ax.plot(x, det["treated"], color=_TREATED, lw=1.8, label="treated")
    ax.plot(x, det["synthetic"], color=_SYNTH, lw=1.5, ls="--", label="synthetic")
    _launch_line(ax, det)
    ax.set_ylabel(str(result.params.get("outcome", "outcome")))
    ax.set_title("Treated vs synthetic", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return fig


def gap_plot(result: Any, ax: Any = None) -> Figure:
    """The treated gap (treated minus synthetic) with the kept placebo gaps behind it."""
    det = dict(result.details)
    fig = ax.figure if ax is not None else Figure(figsize=(6.4, 3.6))
    ax = ax if ax is not None else fig.add_subplot()
    x = _x(det)
    for k, g in enumerate(det.get("placebo_gaps", [])):
        ax.plot(x, g, color=_PLACEBO, lw=0.7, label="placebos" if k == 0 else None)
    ax.plot(x, det["gap"], color=_TREATED, lw=2.0, label="treated")
    ax.axhline(0, color="black", lw=0.6)
    _launch_line(ax, det)
    ax.set_ylabel("gap")
    ax.set_title("Gap, with placebo gaps", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return fig


def weights_plot(result: Any, ax: Any = None, top: int = 12) -> Figure:
    """The largest donor weights as horizontal bars."""
    det = dict(result.details)
    fig = ax.figure if ax is not None else Figure(figsize=(6.4, 3.6))
    ax = ax if ax is not None else fig.add_subplot()
    items = list(det["weights"].items())[:top][::-1]
    ax.barh([k for k, _ in items], [v for _, v in items], color=_TREATED)
    ax.set_xlabel("donor weight")
    ax.set_title("Donor weights", fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    return fig


def plot(result: Any, **kw: Any) -> Figure:
    """Three panels: paths, gap among placebos, donor weights."""
    fig = Figure(figsize=(12, 3.8))
    axes = fig.subplots(1, 3)
    paths_plot(result, ax=axes[0])
    gap_plot(result, ax=axes[1])
    weights_plot(result, ax=axes[2], **kw)
    status = "" if result.status == "ok" else f" [{result.status}]"
    fig.suptitle(f"{result.method}{status}", fontsize=10)
    fig.tight_layout()
    return fig
