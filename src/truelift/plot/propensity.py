"""Propensity plots: score overlap by arm and the love plot of standardised mean differences.

Pure functions of a result's ``details`` (``overlap_hist``: bin edges and counts per arm;
``balance``: one row per covariate level with ``smd_raw`` and ``smd_adj``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["love", "overlap", "plot"]

Kind = Literal["both", "overlap", "love"]


def overlap(ax: Axes, details: Any) -> None:
    """Histogram of the propensity score per arm (densities, so arms of any size compare)."""
    h = details["overlap_hist"]
    edges = np.asarray(h["edges"], dtype=float)
    width = np.diff(edges)
    for key, colour, label in (
        ("control", "#7f7f7f", "untreated"),
        ("treated", "#1f5fa8", "treated"),
    ):
        counts = np.asarray(h[key], dtype=float)
        dens = counts / max(counts.sum(), 1.0) / width
        ax.bar(edges[:-1], dens, width=width, align="edge", alpha=0.55, color=colour, label=label)
    ax.set_xlim(0, 1)
    ax.set_xlabel("estimated propensity score")
    ax.set_ylabel("density")
    ax.set_title("Overlap of the propensity score", fontsize=10)
    ax.legend(fontsize=8)


def love(ax: Axes, details: Any, threshold: float = 0.1) -> None:
    """Standardised mean difference of every covariate level, raw and adjusted."""
    rows = list(details["balance"])
    names = [r["covariate"] for r in rows]
    y = np.arange(len(rows))[::-1]
    raw = np.array([r["smd_raw"] for r in rows], dtype=float)
    ax.scatter(raw, y, marker="o", facecolors="none", edgecolors="#c23b22", label="raw")
    if rows and "smd_adj" in rows[0]:
        adj = np.array([r["smd_adj"] for r in rows], dtype=float)
        ax.scatter(adj, y, marker="o", color="#1f5fa8", label="adjusted")
    for x in (-threshold, threshold):
        ax.axvline(x, color="black", lw=0.8, ls="--")
    ax.axvline(0, color="black", lw=0.5)
    ax.set_yticks(y, names)
    ax.set_xlabel("standardised mean difference (treated - untreated)")
    ax.set_title(f"Balance (|SMD| < {threshold:g} passes)", fontsize=10)
    ax.legend(fontsize=8, loc="best")


def plot(result: Any, *, kind: Kind = "both", **_: Any) -> Figure:
    """Overlap histogram and/or love plot of a propensity result (``ipw``, ``aipw``, ``match``)."""
    details = result.details
    if kind not in ("both", "overlap", "love"):
        raise ValueError(f"kind must be 'both', 'overlap' or 'love'; got {kind!r}")
    n_rows = len(details.get("balance", []))
    panels = ["overlap", "love"] if kind == "both" else [kind]
    fig = Figure(figsize=(5.2 * len(panels), max(3.2, 1.2 + 0.32 * n_rows)))
    for i, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), i)
        overlap(ax, details) if panel == "overlap" else love(ax, details)
    fig.tight_layout()
    return fig
