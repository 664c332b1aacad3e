"""Power, sequential monitoring, switchback and the ``experiment`` scenario."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import truelift
from truelift.experiment import (
    peeking_simulation,
    power,
    sequential_test,
    switchback,
)
from truelift.experiment.sequential import cs_halfwidth, mixture_rho

REF = json.loads((Path(__file__).parent / "reference" / "experiment_reference.json").read_text())


# --- power (reference: statsmodels NormalIndPower, make_experiment_reference.py) ------------


def test_power_matches_statsmodels():
    ref = REF["statsmodels_power"]
    r = power(effect=0.02, baseline=0.2, power=0.8)
    # same normal-approximation formula: floating-point agreement (root-finder tolerance)
    assert r.n_per_arm[0] == pytest.approx(ref["n_per_arm"], rel=1e-6)
    assert power(effect=0.02, baseline=0.2, n=10_000).power == pytest.approx(
        ref["power_at_5000"], rel=1e-9
    )
    unequal = power(effect=0.02, baseline=0.2, power=0.9, allocation=0.75)
    assert unequal.n_per_arm[1] == pytest.approx(ref["n1_ratio3_power90"], rel=1e-6)
    mde = power(n=r.n_total, baseline=0.2, power=0.8)
    assert mde.effect == pytest.approx(0.02, rel=1e-6)  # round trip


def test_power_cuped_and_cluster_design_effects():
    base = power(effect=0.02, baseline=0.2, power=0.8)
    cuped = power(effect=0.02, baseline=0.2, power=0.8, rho=0.6)
    # Deng et al. (2013): variance x (1 - rho^2) -> n x 0.64
    assert cuped.n_total == pytest.approx(base.n_total * (1 - 0.36), rel=1e-6)
    cl = power(effect=0.02, baseline=0.2, power=0.8, icc=0.02, cluster_size=51)
    # Donner & Klar (2000): design effect 1 + (m - 1) icc = 2
    assert cl.design_effect == pytest.approx(2.0)
    assert cl.n_total == pytest.approx(2 * base.n_total, rel=1e-6)
    assert cl.n_clusters == pytest.approx(cl.n_total / 51)
    rel = power(effect=0.1, baseline=0.2, relative=True, power=0.8)
    assert rel.n_total == pytest.approx(base.n_total, rel=1e-6)
    assert "power" in str(rel) and json.dumps(rel.to_dict())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"effect": 0.1, "baseline": 0.2},  # two unknowns
        {"effect": 0.1, "n": 100, "power": 0.8, "baseline": 0.2},  # nothing to solve
        {"effect": 0.1, "n": 100},  # no sd / baseline
        {"effect": 0.1, "n": 100, "sd": 1, "rho": 1.2},
        {"effect": 0.1, "n": 100, "sd": 1, "icc": -0.1},
        {"effect": 0.1, "power": 0.8, "baseline": 1.5},
    ],
)
def test_power_bad_input(kwargs):
    with pytest.raises(truelift.DesignError):
        power(**kwargs)


# --- sequential --------------------------------------------------------------------------


def test_confidence_sequence_is_wider_than_fixed_and_shrinks(saas):
    e = sequential_test(saas.data, outcome="task_completed", variant="prompt_variant", looks=10)
    looks = e.details["looks"]
    fixed = e.details["fixed_horizon"]["ci"]
    assert e.ci_low < fixed[0] and e.ci_high > fixed[1]  # price of optional stopping
    widths = np.subtract(looks["cs_high"], looks["cs_low"])
    assert (np.diff(widths) <= 1e-15).all()  # running intersection never widens
    assert e.ci_low <= saas.truths["prompt_ate"] <= e.ci_high
    assert e.p_value < 1e-6 and e.status == "ok"
    assert e.params["analysis"] == "sequential"


def test_cs_formula_against_hand_computation():
    # Waudby-Smith et al. (2023) Thm 2.2 / eq. (13) written out by hand for t = 1000, alpha .05
    alpha, t = 0.05, 1000.0
    rho = mixture_rho(t, alpha)
    la = -2 * np.log(alpha)
    assert rho**2 == pytest.approx((la + np.log(la + 1)) / t)
    hw = cs_halfwidth(np.array([t]), np.array([2.0]), alpha, rho)[0]
    expected = 2.0 * np.sqrt(
        2 * (t * rho**2 + 1) / (t**2 * rho**2) * np.log(np.sqrt(t * rho**2 + 1) / alpha)
    )
    assert hw == pytest.approx(expected, rel=1e-12)


def test_peeking_simulation_small():
    s = peeking_simulation(n_sims=200, n=1000, looks=10, rng=1)
    # nominal 5 %: naive peeking at 10 looks is inflated; the CS stays below the level
    assert s.naive_peeking_fpr > s.fixed_horizon_fpr
    assert s.sequential_fpr <= 0.05
    assert json.dumps(s.to_dict())


@pytest.mark.slow
def test_peeking_false_positive_rates():
    s = peeking_simulation(n_sims=2000, n=2000, looks=20, rng=20240501)
    # theory: ~5 % at one look; Armitage, McPherson & Rowe (1969): ~25 % with 20 looks
    assert 0.035 < s.fixed_horizon_fpr < 0.065
    assert s.naive_peeking_fpr > 0.15
    assert s.sequential_fpr < 0.05


def test_sequential_errors(saas):
    with pytest.raises(truelift.DataError, match="exactly two arms"):
        sequential_test(saas.data, outcome="task_completed", variant="signup_week")
    with pytest.raises(truelift.DesignError):
        sequential_test(saas.data, outcome="task_completed", variant="prompt_variant", looks=0)


# --- switchback --------------------------------------------------------------------------


def test_switchback_recovers_carryover_truth():
    sim = truelift.simulate(
        "experiment", n_users=30_000, seed=4, randomization="switchback", carryover=1.0
    )
    truth = sim.truths["ate_task_completed"]  # 0.03 direct + 0.03 carried over = 0.06
    e = switchback(sim.data, outcome="task_completed", treatment="variant", time="time_slot")
    assert abs(e.estimate - truth) < 2.5 * e.std_error
    assert e.diagnostic("carryover").verdict == "pass"
    naive = switchback(
        sim.data, outcome="task_completed", treatment="variant", time="time_slot", carryover=0
    )
    # without lags the estimate misses the carried-over half and the check says so
    assert naive.estimate < truth - 0.01
    assert naive.diagnostic("carryover").verdict == "fail"
    assert naive.status == "downgraded"
    assert len(e.details["lag_effects"]) == 2


def test_switchback_rejects_mixed_slots():
    sim = truelift.simulate("experiment", n_users=5000, seed=1)  # user-randomized
    with pytest.raises(truelift.DataError, match="mix both arms"):
        switchback(sim.data, outcome="task_completed", treatment="variant", time="time_slot")


# --- scenario ----------------------------------------------------------------------------


def test_scenario_shape_truths_and_switches():
    sim = truelift.simulate("experiment", n_users=4000, seed=9)
    d = sim.data
    assert len(d) == 4000 and d["variant"].isin([0, 1]).all()
    assert (d["sessions"] >= 1).all() and (d["tasks_completed"] <= d["sessions"]).all()
    assert d["cost_usd"].kurt() > 20 and d["latency_ms"].kurt() > 10  # heavy tails
    assert d["time_slot"].is_monotonic_increasing  # rows in arrival order
    assert sim.truths["ate_active_minutes"] == 1.0
    assert sim.truths["ate_task_completed"] == pytest.approx(0.03, abs=1e-3)
    spill = truelift.simulate(
        "experiment", n_users=4000, seed=9, randomization="workspace", spillover=0.05
    )
    assert spill.truths["ate_task_completed"] == pytest.approx(0.08, abs=2e-3)
    assert spill.truths["direct_task_completed"] == pytest.approx(0.03, abs=1e-3)
    per_ws = spill.data.groupby("workspace_id")["variant"].nunique()
    assert (per_ws == 1).all()
    srm = truelift.simulate("experiment", n_users=4000, seed=9, srm=True)
    assert len(srm.data) < 4000
    with pytest.raises(truelift.DesignError):
        truelift.simulate("experiment", n_users=100, randomization="slot")
    same = truelift.simulate("experiment", n_users=4000, seed=9)
    assert same.data.equals(d)  # seeded


def test_sequential_order_column_accepts_timestamps():
    import pandas as pd

    d = truelift.simulate("experiment", n_users=3000, seed=1).data
    d["ts"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(d["user_id"], unit="s")
    shuffled = d.sample(frac=1.0, random_state=2)
    a = sequential_test(shuffled, outcome="task_completed", variant="variant", order="ts")
    b = sequential_test(d, outcome="task_completed", variant="variant")
    # ordering by the arrival timestamp restores the arrival order exactly
    assert a.details["looks"] == b.details["looks"]
