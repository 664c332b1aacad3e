"""Plots and report section of truelift.synth: the plotted data are the result's details."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import truelift
from truelift.plot import plot_result
from truelift.plot.synth import gap_plot, paths_plot, weights_plot
from truelift.synth import synth


@pytest.fixture(scope="module")
def est():
    sim = truelift.simulate("launch", seed=5, n_donors=12)
    return synth(
        sim.data,
        outcome="task_completion",
        unit="product",
        time="week",
        treatment="launched",
        method="demeaned",
    )


def test_paths_and_gap_plot_read_back(est):
    fig = paths_plot(est)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), est.details["treated"])
    np.testing.assert_allclose(lines[1].get_ydata(), est.details["synthetic"])
    gfig = gap_plot(est)
    glines = gfig.axes[0].get_lines()
    n_placebo = len(est.details["placebo_gaps"])
    np.testing.assert_allclose(glines[n_placebo].get_ydata(), est.details["gap"])
    gfig.savefig(__import__("io").BytesIO(), format="png")


def test_weights_plot_and_dispatch(est):
    fig = weights_plot(est)
    widths = sorted(p.get_width() for p in fig.axes[0].patches)
    top = sorted(est.details["weights"].values())[-len(widths) :]
    np.testing.assert_allclose(widths, top)
    full = plot_result(est)
    assert isinstance(full, Figure) and len(full.axes) == 3


def test_report_section_renders():
    from truelift.report.html import HtmlReport
    from truelift.report.sections import synth as section

    report = HtmlReport(title="t")
    section.section(report, seed=42)
    page = report.render()
    assert "convex hull" in page and "withheld" in page
