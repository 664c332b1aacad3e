"""Goodman-Bacon (2021) decomposition: Theorem 1's weights sum to one and reproduce TWFE.

These are exact algebraic identities of the decomposition (the paper's Theorem 1), so they hold
to floating-point precision (1e-10) on real data (mpdta) and on the rollout simulator. The
individual 2x2 estimates are checked against a direct two-group, two-window TWFE regression.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import truelift
from truelift.did.bacon import bacon
from truelift.did.twfe import twfe

DATA = Path(__file__).parent / "reference" / "data"


@pytest.fixture(scope="module")
def mpdta():
    d = pd.read_csv(DATA / "mpdta.csv")
    d["post"] = ((d["first.treat"] > 0) & (d["year"] >= d["first.treat"])).astype(int)
    return d


def _check(b, twfe_est):
    rows = b.details["comparisons"]
    assert all(r["weight"] >= 0 for r in rows)
    assert sum(r["weight"] for r in rows) == pytest.approx(1.0, abs=1e-10)
    assert sum(r["weight"] * r["estimate"] for r in rows) == pytest.approx(twfe_est, abs=1e-10)
    assert b.estimate == pytest.approx(twfe_est, rel=1e-10)


def test_mpdta_identity(mpdta):
    kw = dict(outcome="lemp", unit="countyreal", time="year", treatment="post")
    b = bacon(mpdta, **kw)
    _check(b, twfe(mpdta, **kw).estimate)
    assert len(b.details["comparisons"]) == 9  # 3 cohorts x never + 3 pairs x 2 directions
    assert b.diagnostic("already-treated controls").verdict == "warn"


def test_2x2_estimate_is_a_subsample_twfe(mpdta):
    # "treated vs never treated" for the 2006 cohort equals TWFE on that cohort + never treated
    b = bacon(mpdta, outcome="lemp", unit="countyreal", time="year", treatment="post")
    row = next(r for r in b.details["comparisons"] if r["treated"] == 2006 and r["control"] is None)
    sub = mpdta[mpdta["first.treat"].isin([0, 2006])]
    direct = twfe(sub, outcome="lemp", unit="countyreal", time="year", treatment="post")
    assert row["estimate"] == pytest.approx(direct.estimate, rel=1e-10)


def test_rollout_shows_forbidden_comparisons_pull_down():
    sim = truelift.simulate("rollout", n_users=4_000, seed=5)
    kw = dict(outcome="tasks", unit="user_id", time="week", treatment="treated")
    b = bacon(sim.data, **kw)
    _check(b, twfe(sim.data, **kw).estimate)
    by = b.details["by_type"]
    # effects grow with exposure, so already-treated controls bias the later-vs-earlier 2x2s
    # downward: their average sits far below the clean comparisons and below the true effects
    assert by["later vs earlier treated"]["estimate"] < by["treated vs never treated"]["estimate"]
    assert b.estimate < sim.truths["att_simple"]


def test_always_treated_and_errors(mpdta):
    sim = truelift.simulate("rollout", n_users=1_000, seed=5)
    d = sim.data.copy()
    d.loc[d.cohort == 4, "treated"] = 1  # cohort 4 now treated from week 1: always treated
    kw = dict(outcome="tasks", unit="user_id", time="week", treatment="treated")
    b = bacon(d, **kw)
    _check(b, twfe(d, **kw).estimate)
    assert "later vs always treated" in b.details["by_type"]
    with pytest.raises(truelift.DataError, match="balanced"):
        bacon(sim.data.iloc[1:], **kw)
    d2 = sim.data.copy()
    d2.loc[(d2.cohort == 4) & (d2.week == 10), "treated"] = 0
    with pytest.raises(truelift.DataError, match="absorbing"):
        bacon(d2, **kw)
