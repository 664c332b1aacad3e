"""Uplift plots read back their data and render with Agg; the report section runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.ensemble import HistGradientBoostingRegressor

from truelift.plot.uplift import plot
from truelift.uplift import evaluate_uplift, heterogeneity_test, policy_value


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 1500
    x = rng.normal(size=n)
    t = rng.binomial(1, 0.5, n)
    y = rng.binomial(1, 0.3 + t * 0.2 * (x > 0))
    return pd.DataFrame(
        {"t": t, "y": y, "x": x, "seg": np.where(x > 0, "hi", "lo"), "pi": (x > 0).astype(int)}
    )


def test_qini_plot_draws_the_curve_and_the_random_line():
    res = evaluate_uplift(_data(), treatment="t", outcome="y", score="x", n_boot=20, rng=0)
    fig = res.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    curve, baseline = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(curve.get_xdata(), res.details["curves"]["qini"]["x"])
    np.testing.assert_allclose(curve.get_ydata(), res.details["curves"]["qini"]["y"])
    assert list(baseline.get_xdata()) == [0, 1]
    assert baseline.get_ydata()[1] == res.details["curves"]["qini"]["y"][-1]
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_cate_by_segment_plot_shows_every_group():
    res = heterogeneity_test(
        _data(),
        treatment="t",
        outcome="y",
        covariates=["x"],
        by="seg",
        propensity=0.5,
        model=HistGradientBoostingRegressor(max_iter=10),
        n_folds=2,
        rng=0,
    )
    fig = plot(res)
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == ["hi", "lo"]
    points = sorted(float(np.asarray(c.lines[0].get_xdata())[0]) for c in fig.axes[0].containers)
    assert points == sorted([res["GATES hi"].estimate, res["GATES lo"].estimate])
    fig.savefig(__import__("io").BytesIO(), format="svg")


def test_policy_value_falls_back_to_forest():
    res = policy_value(_data(), treatment="t", outcome="y", policy="pi", propensity=0.5)
    fig = plot(res)
    assert isinstance(fig, Figure) and len(fig.axes[0].get_yticklabels()) == len(res)
