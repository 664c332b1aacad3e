"""Coverage study on the rollout simulator (slow: `make coverage-study`).

* TWFE on one cohort + never treated is valid: its coefficient targets that cohort's average
  post-period effect (att_group_g6); its 95 % interval should cover ~95 % of the time.
* The 2x2 on panel rows must be clustered by user: with clustering ~95 %.
* TWFE on all cohorts is biased for every Callaway & Sant'Anna aggregation (effects grow with
  exposure), while CS's simple ATT is not: the bias is reported, and asserted to be large.
Tolerances: with S seeds the Monte Carlo SE of a 95 % coverage is sqrt(.95 * .05 / S) (~0.01 at
500); the bands 0.93-0.97 allow about two of those.
"""

from __future__ import annotations

import numpy as np
import pytest

import truelift
from truelift.did import did_2x2, twfe

N_SEEDS = 500
KW = dict(outcome="tasks", unit="user_id", time="week")


@pytest.mark.slow
def test_rollout_coverage_and_twfe_bias():
    try:
        from truelift.did.staggered import did
    except ImportError:  # part A not integrated
        did = None
    cover_one, cover_2x2, tw_all, cs_all, cs_cover = [], [], [], [], []
    for seed in range(N_SEEDS):
        sim = truelift.simulate("rollout", n_users=2_000, seed=seed)
        d, tr = sim.data, sim.truths
        one = d[d.cohort.isin([0, 6])]
        e = twfe(one, **KW, treatment="treated")
        cover_one.append(e.ci_low <= tr["att_group_g6"] <= e.ci_high)
        two = one[one.week.isin([5, 6])].assign(
            g=lambda x: (x.cohort == 6).astype(int), p=lambda x: (x.week == 6).astype(int)
        )
        e2 = did_2x2(two, outcome="tasks", treated="g", post="p", cluster="user_id")
        cover_2x2.append(e2.ci_low <= tr["att_g6_t6"] <= e2.ci_high)
        tw_all.append(twfe(d, **KW, treatment="treated").estimate)
        if did is not None:
            h = did(d, cohort="cohort", aggregation="simple", **KW).headline_estimate
            cs_all.append(h.estimate)
            cs_cover.append(h.ci_low <= tr["att_simple"] <= h.ci_high)
    truth = tr["att_simple"]  # identical in every seed (population truths)
    print(f"\nTWFE one cohort coverage of att_group_g6: {np.mean(cover_one):.3f} ({N_SEEDS} seeds)")
    print(f"2x2 clustered coverage of att_g6_t6: {np.mean(cover_2x2):.3f}")
    print(
        f"TWFE all cohorts mean {np.mean(tw_all):.4f} vs att_simple {truth:.4f} "
        f"(bias {np.mean(tw_all) - truth:+.4f}, sd {np.std(tw_all):.4f})"
    )
    if cs_all:
        print(
            f"CS simple mean {np.mean(cs_all):.4f} (bias {np.mean(cs_all) - truth:+.4f}), "
            f"coverage {np.mean(cs_cover):.3f}"
        )
        assert abs(np.mean(cs_all) - truth) < 3 * np.std(cs_all) / np.sqrt(N_SEEDS)
    assert 0.93 <= np.mean(cover_one) <= 0.97
    assert 0.93 <= np.mean(cover_2x2) <= 0.97
    assert np.mean(tw_all) - truth < -10 * np.std(tw_all) / np.sqrt(N_SEEDS)  # biased down
