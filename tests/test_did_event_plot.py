"""DiD plots read back what they draw (no pixel snapshots) and render (Figure API: Agg canvas)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import truelift
from truelift.did import bacon, did_2x2, event_study, twfe
from truelift.plot import did as did_plot

KW = dict(outcome="tasks", unit="user_id", time="week")


@pytest.fixture(scope="module")
def panel():
    return truelift.simulate("rollout", n_users=400, seed=2).data


def _render(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_event_study_plot(panel):
    es = event_study(panel, **KW, cohort="cohort")
    truth = {e: truelift.simulate("rollout").truths[f"att_dynamic_e{e}"] for e in range(7)}
    fig = es.plot(truth=truth)  # dispatches through truelift.plot to plot.did
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert "truth" in lines and list(lines["truth"].get_ydata()) == [truth[e] for e in range(7)]
    study = es.details["event_study"]
    xs = np.concatenate([ln.get_xdata() for ln in ax.get_lines() if ln.get_marker() == "o"])
    assert sorted(xs.tolist()) == sorted(study["event_time"])
    _render(fig)


def test_group_means_plot(panel):
    e = twfe(panel, **KW, treatment="treated")
    fig = did_plot.plot(e)
    ax = fig.axes[0]
    gm = e.details["group_means"]
    solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert [ln.get_label() for ln in solid] == ["never treated", "cohort 4", "cohort 6", "cohort 8"]
    np.testing.assert_allclose(solid[1].get_ydata(), gm["means"][1])
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata())]
    np.testing.assert_allclose(dashed[0].get_ydata(), gm["counterfactual"][1])
    _render(fig)
    es = event_study(panel, **KW, cohort="cohort")
    _render(did_plot.plot(es, kind="paths"))


def test_2x2_and_bacon_plots(panel):
    d = panel[panel.cohort.isin([0, 6])].assign(
        g=lambda x: (x.cohort == 6).astype(int), p=lambda x: (x.week >= 6).astype(int)
    )
    e = did_2x2(d, outcome="tasks", treated="g", post="p")
    fig = did_plot.plot(e)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    cm = e.details["cell_means"]
    assert list(lines["control"].get_ydata()) == [cm["control_pre"], cm["control_post"]]
    cf = lines["treated counterfactual (parallel trends)"].get_ydata()[1]
    assert cf == pytest.approx(cm["treated_post"] - e.estimate, rel=1e-12)
    _render(fig)
    b = bacon(panel, **KW, treatment="treated")
    fig = did_plot.plot(b)
    n_points = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert n_points == len(b.details["comparisons"])
    _render(fig)
