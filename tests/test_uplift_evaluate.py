"""Qini / AUUC parity with scikit-uplift 0.5.1 and causalml 0.18 on Hillstrom, and properties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

import truelift
from tests.reference.make_uplift_reference import load_hillstrom, scores
from truelift.uplift import (
    auuc_score,
    evaluate_uplift,
    qini_coefficient,
    qini_curve,
    uplift_curve,
)

REF = json.loads((Path(__file__).parent / "reference" / "uplift_reference.json").read_text())
CASES = REF["cases"]


@pytest.fixture(scope="module")
def hillstrom() -> dict[str, pd.DataFrame]:
    return {arm: load_hillstrom(arm) for arm in ("mens", "womens")}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['arm']}-{c['outcome']}-{c['score']}")
def test_hillstrom_parity(case, hillstrom):
    # Source: tests/reference/make_uplift_reference.py (scikit-uplift 0.5.1 qini_auc_score /
    # uplift_auc_score, causalml 0.18.0 qini_score / auuc_score) on the same fixed scores.
    # Tolerance 1e-6 absolute: the bar; the formulas are the same arithmetic, so only
    # floating-point summation order can differ.
    df = hillstrom[case["arm"]]
    y, t = df[case["outcome"]].to_numpy(), df["treatment"].to_numpy()
    s = scores(df)[case["score"]]
    assert qini_coefficient(y, t, s) == pytest.approx(case["sklift_qini_auc_score"], abs=1e-6)
    assert auuc_score(y, t, s) == pytest.approx(case["sklift_uplift_auc_score"], abs=1e-6)
    if "causalml_qini_score" in case:
        got = qini_coefficient(y, t, s, convention="causalml")
        assert got == pytest.approx(case["causalml_qini_score"], abs=1e-6)
        got = auuc_score(y, t, s, convention="causalml")
        assert got == pytest.approx(case["causalml_auuc_score"], abs=1e-6)


def test_evaluate_uplift_reports_reference_numbers(hillstrom):
    df = hillstrom["mens"].assign(score=scores(hillstrom["mens"])["untied"])
    case = next(
        c
        for c in CASES
        if c["arm"] == "mens" and c["outcome"] == "visit" and c["score"] == "untied"
    )
    res = evaluate_uplift(
        df, treatment="treatment", outcome="visit", score="score", propensity=0.5, n_boot=30, rng=1
    )
    # same reference numbers as above (1e-6: the bar)
    assert res["qini"].estimate == pytest.approx(case["sklift_qini_auc_score"], abs=1e-6)
    assert res["auuc"].estimate == pytest.approx(case["sklift_uplift_auc_score"], abs=1e-6)
    assert res.params["adjustment"].startswith("none")
    assert res["qini"].std_error > 0 and "bootstrap" in res["qini"].inference
    curve = res.details["curves"]["qini"]
    assert curve["x"][0] == 0 and curve["x"][-1] == pytest.approx(1.0)
    res_cm = evaluate_uplift(
        df,
        treatment="treatment",
        outcome="visit",
        score="score",
        convention="causalml",
        n_boot=30,
        rng=1,
    )
    assert res_cm["auuc"].estimate == pytest.approx(case["causalml_auuc_score"], abs=1e-6)
    assert res_cm.diagnostics[0].verdict == "warn"  # randomization assumed, not known


def test_constant_weights_leave_coefficients_unchanged():
    # Property: a constant weight (a known constant propensity gives one) rescales every sum and
    # the x axis alike, so the normalised coefficients do not move (exact algebra).
    rng = np.random.default_rng(0)
    n = 3000
    t = rng.binomial(1, 0.3, n)
    s = rng.normal(size=n)
    y = rng.binomial(1, 0.2 + 0.1 * t * (s > 0))
    w = np.full(n, 2.5)
    for conv in ("sklift", "causalml"):
        for fn in (qini_coefficient, auuc_score):
            a = fn(y, t, s, convention=conv)
            assert fn(y, t, s, weights=w, convention=conv) == pytest.approx(a, rel=1e-9)


def test_curves_start_at_origin_and_end_at_total_effect():
    rng = np.random.default_rng(1)
    n = 2000
    t = rng.binomial(1, 0.5, n)
    y = rng.binomial(1, 0.3 + 0.1 * t)
    s = rng.normal(size=n)
    x, q = qini_curve(y, t, s)
    assert x[0] == 0 and q[0] == 0 and x[-1] == n
    total = y[t == 1].sum() - y[t == 0].sum() * t.sum() / (n - t.sum())
    assert q[-1] == pytest.approx(total, rel=1e-12)  # definition of the Qini curve's end point
    _, u = uplift_curve(y, t, s)
    assert u[-1] == pytest.approx((y[t == 1].mean() - y[t == 0].mean()) * n, rel=1e-12)


def test_ipw_adjustment_on_observational_holdout():
    sim = truelift.simulate("hetero", n_users=6000, seed=5, randomized=False)
    d = sim.data.assign(score=sim.data["true_cate"])
    res = evaluate_uplift(
        d,
        treatment="agent_mode",
        outcome="task_completed",
        score="score",
        propensity="propensity",
        n_boot=30,
        rng=0,
    )
    assert res.params["adjustment"] == "ipw (known propensities)"
    # the true CATE ranks users better than random: simulator truth, IPW removes the selection
    assert res["qini"].estimate > 0


def test_bad_options_raise_typed_errors():
    d = pd.DataFrame({"t": [0, 1] * 50, "y": [0.0, 1.0, 1.0, 0.0] * 25, "s": np.arange(100.0)})
    with pytest.raises(truelift.DesignError, match="convention"):
        evaluate_uplift(d, treatment="t", outcome="y", score="s", convention="r")  # type: ignore[arg-type]
    with pytest.raises(truelift.DesignError, match="n_boot"):
        evaluate_uplift(d, treatment="t", outcome="y", score="s", n_boot=1)


def test_aipw_adjustment_uses_doubly_robust_scores():
    sim = truelift.simulate("hetero", n_users=4000, seed=8, randomized=False)
    noise = np.random.default_rng(0).normal(size=4000)
    d = sim.data.assign(score=sim.data["true_cate"], noise=noise)
    covs = ["engagement_tier", "query_confidence"]
    kw = dict(
        treatment="agent_mode",
        outcome="task_completed",
        adjustment="aipw",
        n_boot=20,
        rng=0,
        model=HistGradientBoostingRegressor(max_iter=20, random_state=0),
    )
    good = evaluate_uplift(d, score="score", covariates=covs, **kw)
    assert good.params["adjustment"].startswith("aipw")
    # simulator truth: the true CATE ranks users; a pure-noise score does not (beyond ~3 SE)
    assert good["qini"].estimate > 0 and good["qini"].p_value < 0.05
    bad = evaluate_uplift(d, score="noise", covariates=covs, **kw)
    assert abs(bad["qini"].estimate) < 3 * bad["qini"].std_error
    cm = evaluate_uplift(d, score="score", covariates=covs, convention="causalml", **kw)
    assert cm["auuc"].estimate > 0.5  # causalml's AUUC: random = 0.5 for a positive effect
    with pytest.raises(truelift.DesignError, match="covariates"):
        evaluate_uplift(d, score="score", **kw)
