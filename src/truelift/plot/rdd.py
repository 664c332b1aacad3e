"""RD plot: binned means of the outcome, the fitted local polynomials and the jump at the cutoff.

A pure function of an ``rdd`` result: the bins (evenly spaced, IMSE-rate count, as in
rdplot's spirit; Calonico, Cattaneo & Titiunik 2015) and the polynomial coefficients on each
side are read from ``result.details``; nothing is recomputed from data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot"]


def _poly(coefs: list[float], u: np.ndarray) -> np.ndarray:
    return np.asarray(sum(b * u**k for k, b in enumerate(coefs)))


def plot(result: Any, *, title: str | None = None, truth: float | None = None) -> Figure:
    """Binned scatter with the fitted polynomials inside the bandwidth and the estimated jump."""
    det = result.details
    c = float(det["cutoff"])
    h_l, h_r = (float(v) for v in det["h"])
    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.add_subplot()
    for side, colour in (("left", "#1f5fa8"), ("right", "#c23b22")):
        b = det["bins"][side]
        ax.scatter(b["x"], b["y"], s=14, color=colour, alpha=0.75, label=f"binned means ({side})")
    ul = np.linspace(-h_l, 0, 60)
    ur = np.linspace(0, h_r, 60)
    yl, yr = _poly(det["poly_left"], ul), _poly(det["poly_right"], ur)
    ax.plot(c + ul, yl, color="#1f5fa8", lw=2)
    ax.plot(c + ur, yr, color="#c23b22", lw=2)
    ax.vlines(c, yl[-1], yr[0], color="black", lw=2.5, label="estimated jump")
    ax.axvline(c, color="#777777", lw=0.8, ls="--")
    ax.axvspan(c - h_l, c + h_r, color="#dddddd", alpha=0.35, lw=0, label="bandwidth")
    status = " [headline withheld]" if getattr(result, "status", "ok") == "withheld" else ""
    label = f"effect {result.estimate:+.4g} [{result.ci_low:.4g}, {result.ci_high:.4g}]"
    if truth is not None:
        label += f", truth {truth:+.4g}"
    ax.set_title(title or f"Regression discontinuity at {c:g}: {label}{status}", fontsize=10)
    ax.set_xlabel(str(result.params.get("running", "running variable")))
    ax.set_ylabel(str(result.params.get("outcome", "outcome")))
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
