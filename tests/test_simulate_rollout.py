"""The `rollout` scenario: a staggered user-week panel with exact, known truths.

Truth values below are computed by hand from the data-generating process in the scenario's
docstring (effect scale_g * (0.30 + 0.15 e), cohort shares .2/.2/.2, never treated .4), so they
are compared to floating-point precision. Sample checks compare a hand-computed 2x2 DiD with the
truth at a tolerance of 4 standard errors of that 2x2 (a loose bound: it fails by chance with
probability < 1e-4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift.errors import DesignError
from truelift.simulate import describe, scenarios


@pytest.fixture(scope="module")
def sim():
    return truelift.simulate("rollout", n_users=20_000, seed=1)


def test_registered_and_shape(sim):
    assert "rollout" in scenarios()
    assert "anticipation" in describe("rollout")
    d = sim.data
    assert list(d.columns) == [
        "user_id",
        "workspace_id",
        "tier",
        "week",
        "cohort",
        "treated",
        "tasks",
    ]
    assert len(d) == 20_000 * 10
    assert set(d["cohort"].unique()) == {0, 4, 6, 8}
    # treatment is absorbing and switches on at the cohort week
    expected = ((d["cohort"] > 0) & (d["week"] >= d["cohort"])).astype(int)
    assert (d["treated"] == expected).all()
    # balanced panel: every user observed every week
    assert (d.groupby("user_id")["week"].nunique() == 10).all()


def test_truths_by_hand(sim):
    tr = sim.truths
    # scale_g * (0.30 + 0.15 * (t - g))
    assert tr["att_g4_t4"] == pytest.approx(1.25 * 0.30, abs=1e-12)
    assert tr["att_g4_t10"] == pytest.approx(1.25 * (0.30 + 0.15 * 6), abs=1e-12)
    assert tr["att_g8_t9"] == pytest.approx(0.75 * 0.45, abs=1e-12)
    assert tr["att_g6_t5"] == 0.0
    # simple: cells weighted by cohort share (equal shares): mean over the 7+5+3 post cells
    cells = [1.25 * (0.3 + 0.15 * e) for e in range(7)]
    cells += [1.0 * (0.3 + 0.15 * e) for e in range(5)]
    cells += [0.75 * (0.3 + 0.15 * e) for e in range(3)]
    assert tr["att_simple"] == pytest.approx(np.mean(cells), abs=1e-12)
    # dynamic at e=0 averages the three cohorts; e=6 only cohort 4 is observed
    assert tr["att_dynamic_e0"] == pytest.approx(0.3, abs=1e-12)
    assert tr["att_dynamic_e6"] == pytest.approx(1.25 * 1.2, abs=1e-12)
    assert tr["att_dynamic_e-3"] == 0.0
    dyn = [np.mean([s * (0.3 + 0.15 * e) for g, s in ((4, 1.25), (6, 1.0), (8, 0.75)) if g + e <= 10])
           for e in range(7)]  # fmt: skip
    assert tr["att_dynamic"] == pytest.approx(np.mean(dyn), abs=1e-12)
    grp = [np.mean(cells[:7]), np.mean(cells[7:12]), np.mean(cells[12:])]
    assert tr["att_group"] == pytest.approx(np.mean(grp), abs=1e-12)
    assert tr["att_calendar_t4"] == pytest.approx(0.375, abs=1e-12)
    assert "att_calendar" in tr


def _did(d: pd.DataFrame, g: int, t: int, base: int) -> tuple[float, float]:
    wide = d.pivot(index="user_id", columns="week", values="tasks")
    coh = d.groupby("user_id")["cohort"].first()
    diff = wide[t] - wide[base]
    a, b = diff[coh == g], diff[coh == 0]
    return float(a.mean() - b.mean()), float(np.sqrt(a.var() / a.size + b.var() / b.size))


def test_sample_2x2_matches_truth(sim):
    for g, t in ((4, 4), (4, 9), (6, 8), (8, 10)):
        est, se = _did(sim.data, g, t, g - 1)
        assert abs(est - sim.truths[f"att_g{g}_t{t}"]) < 4 * se


def test_switches():
    base = truelift.simulate("rollout", n_users=10_000, seed=2)
    ant = truelift.simulate("rollout", n_users=10_000, seed=2, anticipation=1)
    pre = truelift.simulate("rollout", n_users=10_000, seed=2, pretrend=True)
    assert ant.truths["att_g6_t5"] == pytest.approx(1.0 * 0.5 * 0.30, abs=1e-12)
    # anticipation: the week before the cohort week already moves
    est, se = _did(ant.data, 6, 5, 4)
    assert abs(est - 0.15) < 4 * se
    # pretrend: a placebo 2x2 between pre-periods shows the slope 0.08 per week x 3 weeks
    est, se = _did(pre.data, 8, 5, 2)
    assert abs(est - 0.24) < 4 * se
    assert pre.truths == base.truths  # the effect itself is unchanged
    est0, se0 = _did(base.data, 8, 5, 2)
    assert abs(est0) < 4 * se0
    with pytest.raises(DesignError):
        truelift.simulate("rollout", anticipation=5)


def test_seeded_reproducible():
    a = truelift.simulate("rollout", n_users=300, seed=7).data
    b = truelift.simulate("rollout", n_users=300, seed=7).data
    pd.testing.assert_frame_equal(a, b)
