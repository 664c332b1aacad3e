"""Experiment plots show the numbers in the result; the report section runs and shows a failure."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import truelift
from truelift.experiment import ab_test, sequential_test, switchback
from truelift.plot.experiment import plot


@pytest.fixture(scope="module")
def sim() -> truelift.Simulation:
    return truelift.simulate("experiment", n_users=4000, seed=2)


def _render(fig: Figure) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()


def test_readout_plot_reads_back(sim):
    res = ab_test(sim.data, outcome=["task_completed", "active_minutes"], variant="variant")
    fig = truelift.EstimateSet.plot(res)
    _render(fig)
    ax_m, ax_r = fig.axes
    # the relative-lift panel holds one point per comparison at the relative lifts (in %)
    points = sorted(float(line.get_xdata()[0]) for line in ax_r.lines if line.get_marker() == "o")
    expected = sorted(100 * e.details["relative_lift"] for _, e in res)
    assert points == pytest.approx(expected)
    assert [t.get_text() for t in ax_m.get_yticklabels()] == ["task_completed", "active_minutes"]
    single = ab_test(sim.data, outcome="task_completed", variant="variant")
    _render(single.plot())


def test_sequential_plot_reads_back(sim):
    e = sequential_test(sim.data, outcome="task_completed", variant="variant", looks=8)
    fig = plot(e, truth=0.03)
    _render(fig)
    ax = fig.axes[0]
    est_line = next(line for line in ax.lines if line.get_label() == "estimate")
    assert np.asarray(est_line.get_ydata()) == pytest.approx(e.details["looks"]["est"])
    assert np.asarray(est_line.get_xdata()) == pytest.approx(e.details["looks"]["n"])


def test_switchback_plot_reads_back():
    sb = truelift.simulate("experiment", n_users=6000, seed=2, randomization="switchback")
    e = switchback(sb.data, outcome="task_completed", treatment="variant", time="time_slot")
    fig = e.plot()
    _render(fig)
    bars = [p.get_height() for p in fig.axes[1].patches]
    assert bars == pytest.approx(e.details["lag_effects"])


def test_report_section_runs():
    from truelift.report.html import HtmlReport
    from truelift.report.sections import experiment as sec

    rep = HtmlReport(title="t")
    sec.section(rep, seed=42)
    html = rep.render()
    assert "sample ratio mismatch" in html.lower()
    assert "withheld" in html.lower()
    assert "<svg" in html
