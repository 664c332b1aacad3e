"""Event study: parity with pyfixest and the pre-trend diagnostic on the rollout simulator.

Reference: pyfixest 0.60 ``feols("lemp ~ i(rel, ref=-1) | countyreal + year")`` with
county-clustered CR1 and ``ssc(k_fixef="full")`` (tests/reference/did_twfe_make_reference.py,
never-treated coded at the reference so they carry no event dummy). Same algebra, so the
tolerance is floating-point noise (1e-8 relative).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift.did.event_study import event_study

HERE = Path(__file__).parent / "reference"
REF = json.loads((HERE / "did_twfe_reference.json").read_text())


@pytest.fixture(scope="module")
def mpdta():
    return pd.read_csv(HERE / "data" / "mpdta.csv")


def test_mpdta_matches_pyfixest(mpdta):
    es = event_study(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    ref = REF["mpdta_event_study_full"]
    for key, coef in ref["coef"].items():
        e = es[f"e={int(key.split('::')[1])}"]
        assert e.estimate == pytest.approx(coef, rel=1e-8)
        assert e.std_error == pytest.approx(ref["se"][key], rel=1e-8)
    assert es.params["reference"] == -1
    assert "relative to event time -1" in es["e=0"].estimand
    assert es.headline == "post average"
    post = [ref["coef"][f"rel::{k}"] for k in range(4)]
    assert es["post average"].estimate == pytest.approx(np.mean(post), rel=1e-8)
    assert {d.name for d in es.diagnostics} >= {"pre-trends", "number of clusters"}


def test_missing_cohort_means_never_treated(mpdta):
    d = mpdta.assign(**{"first.treat": mpdta["first.treat"].replace(0, np.nan)})
    a = event_study(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    b = event_study(d, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    assert a["e=2"].estimate == pytest.approx(b["e=2"].estimate, rel=1e-12)
    assert b["e=2"].n_dropped == 0


def test_window_binning_and_reference(mpdta):
    kw = dict(outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    es = event_study(mpdta, **kw, leads=2, lags=2)
    assert es.labels == ["e=-2", "e=0", "e=1", "e=2", "post average"]
    other = event_study(mpdta, **kw, reference=-2)
    assert "e=-1" in other.labels and "e=-2" not in other.labels
    dropped = event_study(mpdta, **kw, leads=2, lags=2, endpoints="drop")
    assert dropped["e=0"].n_obs < es["e=0"].n_obs
    with pytest.raises(truelift.DesignError, match="reference"):
        event_study(mpdta, **kw, reference=0)
    with pytest.raises(truelift.DesignError, match="endpoints"):
        event_study(mpdta, **kw, endpoints="trim")


def test_cohort_must_be_constant_within_unit(mpdta):
    d = mpdta.copy()
    d.loc[d.index[0], "first.treat"] = 2006
    with pytest.raises(truelift.DataError, match="constant within each unit"):
        event_study(d, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")


def test_no_never_treated_full_window_is_not_identified(mpdta):
    d = mpdta[mpdta["first.treat"] > 0]
    with pytest.raises(truelift.IdentificationError, match="never-treated"):
        event_study(d, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")


def _rollout(**kw):
    sim = truelift.simulate("rollout", n_users=3_000, seed=11, **kw)
    es = event_study(sim.data, outcome="tasks", unit="user_id", time="week", cohort="cohort")
    return sim, es


def test_rollout_pretrends_pass_and_fail():
    # the default scenario satisfies parallel trends; with pretrend=True (slope .08/week) the
    # leads follow the slope, the joint Wald test fails and the headline is downgraded
    _, ok = _rollout()
    _, bad = _rollout(pretrend=True)
    assert next(d for d in ok.diagnostics if d.name == "pre-trends").verdict == "pass"
    fail = next(d for d in bad.diagnostics if d.name == "pre-trends")
    assert fail.verdict == "fail" and bad.status == "downgraded"
    rm = bad.details["relative_magnitudes"]
    assert rm["ci_low"] < bad["post average"].ci_low and rm["bias_bound"] > 0


def test_rollout_anticipation_shows_in_leads():
    # anticipation=1: users react one week early, so e=-1 (the reference) already carries an
    # effect of 0.15 x scale; relative to it, e=-2 sits below zero by about that amount
    _, es = _rollout(anticipation=1)
    assert es["e=-2"].estimate < 0 and es["e=-2"].ci_high < 0.05
    assert es.status == "downgraded"


def test_group_means_and_counterfactual():
    sim, es = _rollout()
    gm = es.details["group_means"]
    assert gm["cohorts"] == [0, 4, 6, 8] and gm["times"] == list(range(1, 11))
    d = sim.data
    m = d[(d.cohort == 4) & (d.week == 7)].tasks.mean()
    assert gm["means"][1][6] == pytest.approx(m, rel=1e-12)
    assert gm["counterfactual"][1][6] == pytest.approx(m - es["e=3"].estimate, rel=1e-12)
    assert np.isnan(gm["counterfactual"][1][0])  # before adoption: no counterfactual drawn
