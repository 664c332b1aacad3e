"""Scenario ``access``: shape, reproducibility, switches and truths (exact population values)."""

from __future__ import annotations

import pandas as pd
import pytest

from truelift.simulate import describe, scenarios, simulate

COLUMNS = [
    "user_id",
    "workspace_id",
    "engagement_tier",
    "prior_tasks",
    "access",
    "used_feature",
    "tasks_completed",
]


def test_registered_and_described():
    assert "access" in scenarios()
    assert "complier" in describe("access") and "weak" in describe("access")


def test_shape_and_reproducibility():
    a = simulate("access", n_users=2_000, seed=7)
    b = simulate("access", n_users=2_000, seed=7)
    assert list(a.data.columns) == COLUMNS and len(a.data) == 2_000
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not a.data.equals(simulate("access", n_users=2_000, seed=8).data)


def test_default_truths():
    t = simulate("access", n_users=10, seed=0).truths
    # hand computation from the documented parameters: complier share .55*.3 + .3*.5 + .15*.7
    assert t["complier_share"] == pytest.approx(0.42)
    # LATE = (.165*1 + .15*2 + .105*3) / .42; ATE adds never-takers' (0, .5, 1) effects
    assert t["late"] == pytest.approx(0.78 / 0.42)
    assert t["ate"] == pytest.approx(0.78 + 0.55 * 0.7 * 0 + 0.30 * 0.5 * 0.5 + 0.15 * 0.3 * 1.0)
    assert t["itt"] == pytest.approx(0.78)
    assert t["always_taker_share"] == 0.0


def test_one_sided_by_default_two_sided_with_switch():
    one = simulate("access", n_users=5_000, seed=1).data
    assert one.loc[one["access"] == 0, "used_feature"].sum() == 0
    two = simulate("access", n_users=5_000, seed=1, always_takers=True)
    assert two.data.loc[two.data["access"] == 0, "used_feature"].mean() > 0.03
    assert two.truths["always_taker_share"] == pytest.approx(0.55 * 0.05 + 0.3 * 0.1 + 0.15 * 0.2)


def test_weak_switch_keeps_the_late_and_shrinks_take_up():
    base = simulate("access", n_users=20_000, seed=1, always_takers=True).truths
    weak = simulate("access", n_users=20_000, seed=1, always_takers=True, weak=True).truths
    assert weak["late"] == pytest.approx(base["late"])  # scaled equally in every tier
    assert weak["complier_share"] < base["complier_share"] / 10


def test_workspace_randomization_needs_clustered_errors():
    from truelift.iv import iv

    sim = simulate("access", n_users=10_000, seed=1, randomize_by="workspace")
    df = sim.data
    assert (df.groupby("workspace_id")["access"].nunique() == 1).all()  # one arm per workspace
    kw = {"outcome": "tasks_completed", "treatment": "used_feature", "instrument": "access"}
    robust = iv(df, **kw)["LATE"]
    clustered = iv(df, cluster="workspace_id", **kw)["LATE"]
    assert clustered.std_error > 1.5 * robust.std_error  # the workspace shock is shared


def test_bad_switch_raises():
    import truelift

    with pytest.raises(truelift.DesignError, match="workspace"):
        simulate("access", n_users=100, randomize_by="team")
