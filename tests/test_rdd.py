"""Behaviour of truelift.rdd: conventions, options, diagnostics with consequences, simulator.

Numbers asserted here come from the threshold simulator's truths (0.06 at the cut-off) or are
exact identities (sign flips, invariances); parity with rdrobust lives in test_rdd_parity.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import truelift
from truelift.errors import DataError, DesignError
from truelift.plot.rdd import plot
from truelift.rdd import density_test, rdd
from truelift.rdd._kernels import nn_residuals

KW = {"outcome": "task_completed", "running": "query_confidence", "cutoff": 0.85}


@pytest.fixture(scope="module")
def sharp() -> truelift.simulate.Simulation:
    return truelift.simulate("threshold", n_users=20_000, seed=11)


def test_treated_side_flips_sign_only(sharp) -> None:
    above = rdd(sharp.data, **KW, diagnostics=False)
    below = rdd(sharp.data, **KW, treated_side="below", diagnostics=False)
    assert below.estimate == pytest.approx(-above.estimate, abs=1e-12)  # exact identity
    assert (below.ci_low, below.ci_high) == pytest.approx((-above.ci_high, -above.ci_low))
    assert below.std_error == above.std_error and below.p_value == above.p_value
    # robust interval is centred on the bias-corrected estimate, not on the headline estimate
    centre = (below.ci_low + below.ci_high) / 2
    assert centre == pytest.approx(below.params["estimate_bias_corrected"], abs=1e-12)


def test_sharp_recovers_truth(sharp) -> None:
    e = rdd(sharp.data, **KW, treated_side="below", covariates=["heavy_user", "prior_success"])
    truth = sharp.truths["premium_effect_at_cutoff"]  # simulator truth, 0.06
    assert e.ci_low <= truth <= e.ci_high
    assert e.status == "ok"
    assert {d.name for d in e.diagnostics} >= {
        "density test",
        "covariate continuity",
        "placebo cutoffs",
        "bandwidth sensitivity",
        "donut",
    }
    p = e.params
    assert p["design"] == "rdd" and p["h_left"] > 0 and p["n_effective_left"] > 0
    assert p["vce"] == "nn" and p["q"] == 2 and p["kernel"] == "triangular"


def test_manipulation_blocks_headline() -> None:
    sim = truelift.simulate("threshold", n_users=20_000, seed=12, manipulation=True)
    e = rdd(sim.data, **KW, treated_side="below")
    d = e.diagnostic("density test")
    assert d.verdict == "fail" and d.consequence == "block"
    assert e.status == "withheld" and e.headline is None
    dt = density_test(sim.data, running="query_confidence", cutoff=0.85)
    assert dt.p_value < 0.01 and dt.estimate < 0  # bunching below: left density higher
    assert dt.status == "withheld"


def test_fuzzy_is_ratio_and_side_free() -> None:
    sim = truelift.simulate("threshold", n_users=20_000, seed=13, fuzzy=True)
    kw = {**KW, "treatment": "routed_to_premium", "diagnostics": False}
    e = rdd(sim.data, **kw, treated_side="below")
    e2 = rdd(sim.data, **kw)
    assert e.estimate == e2.estimate  # a ratio of two jumps does not depend on the side
    fs = e.params["first_stage"]
    assert fs == pytest.approx(-0.75, abs=0.1)  # 10 % above - 85 % below = -0.75 by design
    assert e.ci_low <= sim.truths["premium_effect_at_cutoff"] <= e.ci_high


def test_affine_outcome_invariance(sharp) -> None:
    d = sharp.data.assign(y2=3.0 * sharp.data["task_completed"] + 5.0)
    a = rdd(d, **KW, diagnostics=False, vce="hc1")
    b = rdd(d, **{**KW, "outcome": "y2"}, diagnostics=False, vce="hc1")
    # bandwidths are chosen on the standardised outcome, so y -> 3y + 5 scales everything by 3
    assert b.estimate == pytest.approx(3 * a.estimate, rel=1e-8)
    assert b.std_error == pytest.approx(3 * a.std_error, rel=1e-8)


def test_row_order_invariance(sharp) -> None:
    shuffled = sharp.data.sample(frac=1.0, random_state=0)
    a = rdd(sharp.data, **KW, diagnostics=False)
    b = rdd(shuffled, **KW, diagnostics=False)
    assert b.estimate == pytest.approx(a.estimate, rel=1e-9)
    assert b.std_error == pytest.approx(a.std_error, rel=1e-9)


def test_donut_drops_the_closest(sharp) -> None:
    e = rdd(sharp.data, **KW, donut=0.01, diagnostics=False)
    near = (sharp.data["query_confidence"] - 0.85).abs() < 0.01
    assert e.n_obs == len(sharp.data) - int(near.sum())


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kernel": "gaussian"}, "kernel"),
        ({"vce": "hc4"}, "vce"),
        ({"bandwidth": "ik"}, "bandwidth"),
        ({"bandwidth": -0.1}, "bandwidth"),
        ({"p": 2, "q": 2}, "q must be"),
        ({"treated_side": "left"}, "treated_side"),
        ({"b": 0.2}, "b can only"),
        ({"cluster": "heavy_user", "vce": "hc3"}, "CR2/CR3"),
        ({"donut": -1.0}, "donut"),
    ],
)
def test_bad_options_raise_design_error(sharp, kw, match) -> None:
    with pytest.raises(DesignError, match=match):
        rdd(sharp.data, **KW, **kw)


def test_cutoff_outside_range(sharp) -> None:
    with pytest.raises(DataError, match="inside the range"):
        rdd(sharp.data, **{**KW, "cutoff": 1.5}, diagnostics=False)


def test_nn_residuals_small_example() -> None:
    # hand-computed: x = 0, 1, 2, 3 with y = 0, 1, 4, 9 and 1 match: each point's nearest
    # neighbour (ties take both sides) -> r_i = sqrt(J/(J+1)) (y_i - mean of neighbours)
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, 1.0, 4.0, 9.0])
    r = nn_residuals(x, y, 1)[:, 0]
    expected = [
        np.sqrt(1 / 2) * (0 - 1),
        np.sqrt(2 / 3) * (1 - 2),
        np.sqrt(2 / 3) * (4 - 5),
        np.sqrt(1 / 2) * (9 - 4),
    ]
    assert r == pytest.approx(expected, abs=1e-12)


def test_plot_reads_back_bins_and_renders(sharp) -> None:
    e = rdd(sharp.data, **KW, treated_side="below", diagnostics=False)
    fig = plot(e, truth=0.06)
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    offsets = ax.collections[0].get_offsets()
    assert np.allclose(offsets[:, 0], e.details["bins"]["left"]["x"])
    assert np.allclose(offsets[:, 1], e.details["bins"]["left"]["y"])
    assert "0.85" in ax.get_title()
    assert truelift.plot.plot_result(e) is not None


def test_threshold_scenario_shape() -> None:
    sim = truelift.simulate("threshold", n_users=1_000, seed=1)
    assert sim.truths == {"premium_effect_at_cutoff": 0.06}
    d = sim.data
    assert (d["routed_to_premium"] == (d["query_confidence"] < 0.85)).all()
    fz = truelift.simulate("threshold", n_users=5_000, seed=1, fuzzy=True).data
    assert (fz["routed_to_premium"] != fz["below_cutoff"]).mean() > 0.05
    assert isinstance(d, pd.DataFrame)


def test_sorted_and_unsorted_paths_agree(sharp) -> None:
    # nn runs on rows sorted by x; HC/CR1 work on kernel windows in any row order. The binned
    # means (plot data) must be the same whichever path made them, and shuffling rows must not
    # change the HC1 answer beyond rounding.
    a = rdd(sharp.data, **KW, diagnostics=False, vce="nn")
    b = rdd(sharp.data, **KW, diagnostics=False, vce="hc1")
    for side in ("left", "right"):
        assert a.details["bins"][side]["n"] == b.details["bins"][side]["n"]
        assert a.details["bins"][side]["y"] == pytest.approx(b.details["bins"][side]["y"])
    shuffled = sharp.data.sample(frac=1.0, random_state=1)
    c = rdd(shuffled, **KW, diagnostics=False, vce="hc1")
    assert c.estimate == pytest.approx(b.estimate, rel=1e-9)
    assert c.std_error == pytest.approx(b.std_error, rel=1e-9)
    assert c.params["h_left"] == pytest.approx(b.params["h_left"], rel=1e-9)
