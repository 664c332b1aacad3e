"""Plots of IV results read back their data from the result (Agg backend, no pixels)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest

from truelift.iv import iv
from truelift.plot import plot_result
from truelift.simulate import simulate

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def access_result():
    sim = simulate("access", n_users=4_000, seed=11, always_takers=True)
    return iv(sim.data, outcome="tasks_completed", treatment="used_feature", instrument="access")


def test_access_plot_shows_arms_and_ar_curve(access_result):
    fig = plot_result(access_result)
    ax_take, ax_itt, ax_ar = fig.axes
    arms = access_result.details["arms"]
    heights = [p.get_height() for p in ax_take.patches]
    assert heights == pytest.approx([arms["no access"]["take_up"], arms["access"]["take_up"]])
    means = [p.get_height() for p in ax_itt.patches]
    assert means == pytest.approx(
        [arms["no access"]["mean_outcome"], arms["access"]["mean_outcome"]]
    )
    line = ax_ar.lines[0]
    curve = access_result.details["ar_curve"]
    np.testing.assert_allclose(line.get_xdata(), curve["b"])
    np.testing.assert_allclose(line.get_ydata(), curve["stat"])
    fig.savefig(io.BytesIO(), format="png")


def test_weak_plot_renders_unbounded_set():
    sim = simulate("access", n_users=4_000, seed=2, weak=True, always_takers=True)
    res = iv(sim.data, outcome="tasks_completed", treatment="used_feature", instrument="access")
    fig = res.plot()
    assert "Anderson–Rubin set" in fig.axes[-1].get_title()
    assert "headline" in fig.axes[-1].get_title()
    fig.savefig(io.BytesIO(), format="svg")


def test_2sls_plot_has_one_panel():
    rng = np.random.default_rng(0)
    import pandas as pd

    z = rng.normal(size=500)
    d = z + rng.normal(size=500)
    df = pd.DataFrame({"z": z, "d": d, "y": 0.3 * d + rng.normal(size=500)})
    fig = iv(df, outcome="y", treatment="d", instrument="z").plot(title="x")
    assert len(fig.axes) == 1
    fig.savefig(io.BytesIO(), format="png")
