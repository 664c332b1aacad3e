"""Callaway & Sant'Anna on the simulator's ``rollout`` scenario (truths from the simulator).

The coverage study over 500 seeds is ``slow`` (run with ``make coverage-study``); the quick tests
check one large draw and the failure switch.
"""

from __future__ import annotations

import numpy as np
import pytest

import truelift
from truelift.did.staggered import did


def _fit(sim: truelift.Simulation, **kw: object) -> truelift.EstimateSet:
    return did(sim.data, outcome="tasks", unit="user_id", time="week", cohort="cohort", **kw)


def test_recovers_rollout_truths():
    sim = truelift.simulate("rollout", n_users=20_000, seed=3)
    for agg in ("simple", "dynamic", "group", "calendar"):
        head = _fit(sim, aggregation=agg).headline_estimate
        assert head is not None
        truth = sim.truths[f"att_{agg}"]
        # 4 SEs: a deterministic check on one seed, far from the 5% two-sided tail
        assert abs(head.estimate - truth) < 4 * head.std_error
    res = _fit(sim)
    for g, t in [(4, 4), (6, 9), (8, 10), (8, 5)]:
        e = res[f"g={g},t={t}"]
        assert abs(e.estimate - sim.truths[f"att_g{g}_t{t}"]) < 4 * e.std_error
    assert res.status == "ok"


def test_pretrend_switch_fails_the_diagnostic():
    sim = truelift.simulate("rollout", n_users=5_000, seed=4, pretrend=True)
    res = _fit(sim)
    d = res.diagnostics[0]
    assert d.name == "pre-trends" and d.verdict == "fail"
    assert res.status == "downgraded"
    lo, hi = res.details["sensitivity"]["robust_ci"]
    assert lo < sim.truths["att_simple"] < hi  # the sensitivity interval still covers the truth


def test_anticipation_switch_is_absorbed_by_anticipation_option():
    sim = truelift.simulate("rollout", n_users=20_000, seed=5, anticipation=1)
    naive = _fit(sim).headline_estimate
    fixed = _fit(sim, anticipation=1).headline_estimate
    truth = sim.truths["att_simple"]
    assert naive is not None and fixed is not None
    assert abs(fixed.estimate - truth) < 4 * fixed.std_error
    assert abs(naive.estimate - truth) > abs(fixed.estimate - truth)


@pytest.mark.slow
def test_coverage_simple_and_dynamic():
    # 1,000 seeds: the binomial sd of a 95 % coverage is 0.7 points, so the 93-97 % window is
    # about 3 sd wide on each side (at 500 seeds it is 2 sd and a correct interval fails it
    # about 1 time in 20; seeds 1000-1499 gave 92.6 % for the simple aggregation).
    n_seeds = 1000
    hits = {"simple": 0, "dynamic": 0}
    errors: dict[str, list[float]] = {"simple": [], "dynamic": []}
    ses: dict[str, list[float]] = {"simple": [], "dynamic": []}
    for seed in range(5000, 5000 + n_seeds):
        sim = truelift.simulate("rollout", n_users=2_000, seed=seed)
        for agg in hits:
            head = _fit(sim, aggregation=agg).headline_estimate
            assert head is not None
            truth = sim.truths[f"att_{agg}"]
            hits[agg] += head.ci_low <= truth <= head.ci_high
            errors[agg].append(head.estimate - truth)
            ses[agg].append(head.std_error)
    for agg, h in hits.items():
        cover = h / n_seeds
        bias = float(np.mean(errors[agg]))
        sd = float(np.std(errors[agg]))
        ratio = float(np.mean(ses[agg])) / sd
        print(
            f"rollout CS {agg}: coverage {cover:.3f} over {n_seeds} seeds, bias {bias:+.4f}, "
            f"sd {sd:.4f}, mean SE / sd {ratio:.3f}"
        )
        assert 0.93 <= cover <= 0.97  # the bar
        assert abs(bias) < 3 * sd / np.sqrt(n_seeds)  # no bias beyond Monte Carlo noise
        assert 0.9 < ratio < 1.1  # analytic SEs match the sampling sd
