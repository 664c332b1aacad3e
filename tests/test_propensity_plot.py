"""Propensity plots read back the plotted data and render with Agg."""

from __future__ import annotations

import io

import numpy as np
import pytest

import truelift
from truelift.plot.propensity import plot
from truelift.propensity import ipw


@pytest.fixture(scope="module")
def result():
    d = truelift.simulate("optin", n_users=3_000, seed=1).data
    return ipw(
        d,
        treatment="agent_mode",
        outcome="task_completed",
        covariates=["engagement_tier", "plan", "log_tenure", "prior_tasks"],
    )


def test_overlap_and_love_data(result):
    fig = plot(result)
    ax_overlap, ax_love = fig.axes
    heights = np.array([p.get_height() for p in ax_overlap.patches])
    assert len(heights) == 2 * (len(result.details["overlap_hist"]["edges"]) - 1)
    raw, adj = ax_love.collections[:2]
    expected = [r["smd_raw"] for r in result.details["balance"]]
    np.testing.assert_allclose(raw.get_offsets()[:, 0], expected)
    weighted = [r["smd_adj"] for r in result.details["balance"]]
    np.testing.assert_allclose(adj.get_offsets()[:, 0], weighted)
    labels = [t.get_text() for t in ax_love.get_yticklabels()]
    assert "engagement_tier[heavy]" in labels and "plan[free]" in labels
    fig.savefig(io.BytesIO(), format="png")


def test_dispatch_and_kinds(result):
    assert len(result.plot().axes) == 2  # Estimate.plot dispatches on params["design"]
    assert len(plot(result, kind="love").axes) == 1
    with pytest.raises(ValueError):
        plot(result, kind="pie")
