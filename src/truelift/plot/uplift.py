"""Uplift plots: Qini / uplift curves against the random baseline, and CATE by segment.

Pure functions of a result's ``details`` (no statistics computed here):
:func:`truelift.uplift.evaluate_uplift` results draw their curves;
:func:`truelift.uplift.heterogeneity_test` results draw GATES with intervals beside the
distribution of the predicted CATE per group; other uplift results fall back to the forest chart.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from truelift.plot._forest import forest

__all__ = ["plot", "plot_cate_by_segment", "plot_qini"]


def plot(result: Any, **kwargs: Any) -> Figure:
    """The uplift figure that fits ``result`` (dispatch on ``params["analysis"]``)."""
    analysis = result.params.get("analysis")
    if analysis == "evaluation":
        return plot_qini(result, **kwargs)
    if analysis == "heterogeneity":
        return plot_cate_by_segment(result, **kwargs)
    return forest(result, **kwargs)


def plot_qini(result: Any, *, title: str | None = None) -> Figure:
    """Qini and uplift curves (x = share of users targeted) with the random-targeting line."""
    curves = result.details["curves"]
    fig = Figure(figsize=(9.6, 3.8))
    names = (("qini", "Qini curve"), ("uplift", "Uplift (cumulative gain) curve"))
    for i, (key, label) in enumerate(names):
        ax = fig.add_subplot(1, 2, i + 1)
        x, y = curves[key]["x"], curves[key]["y"]
        est = result[key if key == "qini" else "auuc"]
        ax.plot(x, y, color="#1f5fa8", lw=1.6, label=f"score ({est.estimate:.4f})")
        ax.plot([0, 1], [0, y[-1]], color="#777777", ls="--", lw=1.0, label="random targeting")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("share of users targeted (highest score first)")
        ax.set_ylabel("incremental outcomes")
        ax.set_title(label, fontsize=10)
        ax.legend(loc="best", fontsize=8)
    conv = result.params.get("convention", "")
    adj = result.params.get("adjustment", "")
    fig.suptitle(title or f"Uplift evaluation ({conv} convention; adjustment: {adj})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_cate_by_segment(result: Any, *, title: str | None = None) -> Figure:
    """GATES with intervals (left) and the predicted CATE's 5-25-50-75-95 % quantiles (right)."""
    labels = [k for k in result.labels if k.startswith("GATES ")]
    groups = [k[6:] for k in labels]
    fig = Figure(figsize=(9.6, 0.9 + 0.5 * max(len(labels), 3)))
    ax = fig.add_subplot(1, 2, 1)
    ys = list(range(len(labels)))[::-1]
    for y, lab in zip(ys, labels, strict=True):
        e = result[lab]
        ax.errorbar(
            e.estimate,
            y,
            xerr=[[e.estimate - e.ci_low], [e.ci_high - e.estimate]],
            fmt="o",
            color="#1f5fa8",
            capsize=3,
        )
    ate = result["ATE"].estimate
    ax.axvline(ate, color="#c23b22", lw=1.0, ls="--", label=f"ATE {ate:.4f}")
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(ys, groups)
    ax.set_xlabel("group average effect (GATES)")
    ax.legend(loc="best", fontsize=8)
    ax2 = fig.add_subplot(1, 2, 2, sharey=ax)
    by_group = result.details["cate_by_group"]
    for y, g in zip(ys, groups, strict=True):
        q = by_group.get(g, {}).get("cate_quantiles")
        if not q:
            continue
        ax2.plot([q[0], q[4]], [y, y], color="#555555", lw=1.0)
        ax2.plot([q[1], q[3]], [y, y], color="#1f5fa8", lw=6, solid_capstyle="butt", alpha=0.6)
        ax2.plot([q[2]], [y], "|", color="black", ms=12)
    ax2.axvline(0, color="black", lw=0.6)
    ax2.set_xlabel("predicted CATE (out-of-fold), 5-25-50-75-95%")
    p = result["BLP beta2"].p_value
    fig.suptitle(
        title or f"Effect by segment (BLP heterogeneity test p = {p:.3g})",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
