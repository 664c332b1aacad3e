"""Estimate-and-interval chart for one :class:`Estimate` or every estimate of an :class:`EstimateSet`."""

from __future__ import annotations

from matplotlib.figure import Figure

from truelift.result import Estimate, EstimateSet

__all__ = ["forest"]


def forest(
    result: Estimate | EstimateSet, *, truth: float | None = None, title: str | None = None
) -> Figure:
    """Point estimates with their intervals; a dashed line at zero and, if given, the truth."""
    items: list[tuple[str, Estimate]] = (
        [(result.method, result)] if isinstance(result, Estimate) else list(result.estimates)
    )
    fig = Figure(figsize=(8, 1.0 + 0.5 * max(len(items), 2)))
    ax = fig.add_subplot()
    ys = list(range(len(items)))[::-1]
    for y, (_, e) in zip(ys, items, strict=True):
        colour = "#999999" if e.status == "withheld" else "#1f5fa8"
        ax.errorbar(
            e.estimate,
            y,
            xerr=[[e.estimate - e.ci_low], [e.ci_high - e.estimate]],
            fmt="o",
            color=colour,
            capsize=3,
        )
    ax.axvline(0, color="black", lw=0.8, ls="--")
    if truth is not None:
        ax.axvline(truth, color="#c23b22", lw=1.2, label=f"truth {truth:.4g}")
        ax.legend(loc="best", fontsize=8)
    ax.set_yticks(ys, [label for label, _ in items])
    ax.set_xlabel("effect")
    level = items[0][1].conf_level if items else 0.95
    ax.set_title(title or f"Estimates with {100 * level:g}% intervals", fontsize=10)
    fig.tight_layout()
    return fig
