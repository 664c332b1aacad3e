"""truelift.iv: parity with Wooldridge's textbook and linearmodels, AR sets, weak-IV consequences."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift._iv_kernels import _ar_numeric, _ar_stat, _partial_out, _stages
from truelift.inference import ols
from truelift.iv import iv
from truelift.simulate import simulate

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def mroz() -> pd.DataFrame:
    df = pd.read_csv(REF / "data" / "mroz.csv")
    return df[df["inlf"] == 1].reset_index(drop=True)  # 428 working women, as in the textbook


# ----------------------------------------------------------------------------- textbook parity


def test_wooldridge_example_15_1(mroz):
    res = iv(mroz, outcome="lwage", treatment="educ", instrument="fatheduc", vce="classical")
    e = res["2SLS"]
    # Wooldridge, Introductory Econometrics, Example 15.1: educ .059 (.035), n = 428; the book
    # prints 3 decimals, so the tolerance is half a unit in the 3rd decimal.
    assert e.estimate == pytest.approx(0.059, abs=5e-4)
    assert e.std_error == pytest.approx(0.035, abs=5e-4)
    assert e.n_obs == 428
    assert res.headline == "2SLS" and res.status == "ok"


def test_wooldridge_example_15_5(mroz):
    res = iv(
        mroz,
        outcome="lwage",
        treatment="educ",
        instrument=["motheduc", "fatheduc"],
        covariates=["exper", "expersq"],
        vce="classical",
    )
    e = res["2SLS"]
    # Wooldridge, Example 15.5: 2SLS educ .061 (.031) with both parents' education; 3 decimals.
    assert e.estimate == pytest.approx(0.061, abs=5e-4)
    assert e.std_error == pytest.approx(0.031, abs=5e-4)
    # Wooldridge (Example 15.5 text): first-stage F for motheduc, fatheduc jointly = 55.40.
    assert res.details["first_stage"]["F"] == pytest.approx(55.40, abs=5e-3)
    assert res.labels == ["2SLS"]


REFERENCE = json.loads((REF / "iv_reference.json").read_text())


@pytest.mark.parametrize("key", sorted(k for k in REFERENCE if not k.startswith("_")))
def test_linearmodels_parity(mroz, key):
    ref = REFERENCE[key]
    label = key.split("/")[1]
    kw = {"cluster": "age"} if label == "cluster_age" else {"vce": label}
    res = iv(
        mroz,
        outcome="lwage",
        treatment="educ",
        instrument=ref["instruments"],
        covariates=ref["controls"] or None,
        **kw,
    )
    e = res["2SLS"]
    # linearmodels 7.1 IV2SLS (tests/reference/make_iv_reference.py): same formulas
    # (unadjusted+debiased = classical with n-k; robust = HC0, debiased = HC1; clustered+debiased
    # = CR1 with G/(G-1)(n-1)/(n-k)), so agreement is to floating-point rounding: 1e-8 relative.
    assert e.estimate == pytest.approx(ref["educ"], rel=1e-8)
    assert e.std_error == pytest.approx(ref["educ_se"], rel=1e-8)
    # linearmodels' first-stage partial "f.stat": the F for unadjusted, the Wald chi2 (k F) else.
    k = len(ref["instruments"])
    f = res.details["first_stage"]["F"] * (1 if label == "classical" else k)
    assert f == pytest.approx(ref["first_stage_partial_f"], rel=1e-8)


def test_overidentification_tests(mroz):
    kw = {
        "outcome": "lwage",
        "treatment": "educ",
        "instrument": ["motheduc", "fatheduc"],
        "covariates": ["exper", "expersq"],
    }
    ref = REFERENCE["ex15_5/hc1"]
    classical = iv(mroz, vce="classical", **kw).diagnostics[1]
    robust = iv(mroz, vce="hc1", **kw).diagnostics[1]
    assert classical.name == robust.name == "over-identification"
    # Wooldridge, Introductory Econometrics, Example 15.8: Sargan n R^2 = .378, p = .539; and
    # linearmodels 7.1 sargan / wooldridge_overid (same formulas: 1e-8 relative).
    assert classical.details["statistic"] == pytest.approx(0.378, abs=5e-4)
    assert classical.value == pytest.approx(0.539, abs=5e-4)
    assert classical.details["statistic"] == pytest.approx(ref["sargan"], rel=1e-8)
    assert robust.details["statistic"] == pytest.approx(ref["wooldridge_overid"], rel=1e-8)
    assert classical.verdict == robust.verdict == "pass"
    # an invalid second instrument (it enters the outcome directly) is flagged
    bad = mroz.assign(lwage=mroz["lwage"] + 0.05 * mroz["motheduc"])
    assert iv(bad, **kw).diagnostics[1].verdict == "warn"


def test_effective_f_equals_f_with_one_instrument_or_homoskedastic(mroz):
    # Montiel Olea & Pflueger (2013): with one instrument the effective F is the robust F, and with
    # homoskedastic (classical) variance it is the usual F; critical value 23.1 (their Table 1,
    # K_eff = 1, tau = 10 %, 5 % level: chi2_1(10) quantile 23.109).
    r1 = iv(mroz, outcome="lwage", treatment="educ", instrument="fatheduc")
    fs = r1.details["first_stage"]
    assert fs["F_eff"] == pytest.approx(fs["F"], rel=1e-10)
    assert fs["critical_value"] == pytest.approx(23.109, abs=1e-3)
    r2 = iv(
        mroz,
        outcome="lwage",
        treatment="educ",
        instrument=["motheduc", "fatheduc"],
        vce="classical",
    )
    fs2 = r2.details["first_stage"]
    assert fs2["F_eff"] == pytest.approx(fs2["F"], rel=1e-10)
    assert fs2["K_eff"] == pytest.approx(2.0, rel=1e-10)


# ----------------------------------------------------------------------------- Anderson-Rubin


def test_ar_statistic_is_the_robust_t_of_the_instrument(mroz):
    # Definition (Anderson & Rubin 1949; Andrews, Stock & Sun 2019 sec. 5): AR(b) is the Wald
    # statistic of the instrument in the regression of y - b*d on the instrument and controls.
    # Checked against truelift.inference.ols (an independent code path), to rounding.
    y, d = mroz["lwage"].to_numpy(), mroz["educ"].to_numpy(float)
    z = mroz["fatheduc"].to_numpy(float)
    X = np.column_stack([np.ones(len(y)), z])
    M = _partial_out(X[:, :1], np.column_stack([y, d, z]))
    st = _stages(M[:, 0], M[:, 1], M[:, 2:], 1, "hc1", None)
    for b in (-0.1, 0.0, 0.05, 0.2):
        fit = ols(X, y - b * d, vce="hc1")
        t2 = (fit.coef[1] / fit.se[1]) ** 2
        assert _ar_stat(st, np.array([b]))[0] == pytest.approx(t2, rel=1e-10)


def test_ar_set_endpoints_and_numeric_inversion_agree(mroz):
    res = iv(mroz, outcome="lwage", treatment="educ", instrument="fatheduc")
    ((lo, hi),) = res.details["ar_set"]
    assert lo < res["2SLS"].estimate < hi
    y, d = mroz["lwage"].to_numpy(), mroz["educ"].to_numpy(float)
    z = mroz["fatheduc"].to_numpy(float)
    M = _partial_out(np.ones((len(y), 1)), np.column_stack([y, d, z]))
    st = _stages(M[:, 0], M[:, 1], M[:, 2:], 1, "hc1", None)
    c = res.details["ar_critical_value"]
    # the closed form (one instrument) sits exactly on AR(b) = chi2_1 quantile ...
    assert _ar_stat(st, np.array([lo, hi])) == pytest.approx([c, c], rel=1e-9)
    # ... and the grid + root-finding inversion used for several instruments finds the same set.
    ((lo2, hi2),) = _ar_numeric(st, c, 0.06, 0.04)
    assert (lo2, hi2) == pytest.approx((lo, hi), rel=1e-8)


def _weak_frame(pi: float, seed: int = 3, n: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    v = rng.normal(size=n)
    d = pi * z + v
    y = 0.5 * d + 0.8 * v + rng.normal(size=n)  # endogenous: v enters both
    return pd.DataFrame({"y": y, "d": d, "z": z, "z2": rng.normal(size=n) + 0.5 * z})


def test_irrelevant_instrument_gives_an_unbounded_ar_set_and_downgrades():
    res = iv(_weak_frame(0.0), outcome="y", treatment="d", instrument="z")
    e = res["2SLS"]
    assert res.diagnostics[0].name == "instrument strength"
    assert res.diagnostics[0].verdict == "fail"
    assert res.status == "downgraded" and e.status == "downgraded"
    assert res.details["headline_interval"] == "anderson-rubin"
    pieces = res.details["ar_set"]
    assert any(math.isinf(b) for p in pieces for b in p)  # unbounded: said so, not hidden
    assert e.ci_low == -math.inf and e.ci_high == math.inf
    assert math.isnan(e.std_error) and "Anderson–Rubin" in e.inference
    assert "Anderson–Rubin" in res.summary("text")  # the warning renders
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("instrument", ["z", ["z", "z2"]])
def test_weak_ar_set_can_be_a_union_of_half_lines(instrument):
    # pi = 0.06, seed 0: first stage too weak to bound the set (AR(b) -> first-stage Wald < chi2
    # quantile as |b| -> inf) but the data reject a middle range: the AR set is two half-lines.
    df = _weak_frame(0.06, seed=0)
    res = iv(df, outcome="y", treatment="d", instrument=instrument)
    assert res.diagnostics[0].verdict == "fail"
    (lo1, hi1), (lo2, hi2) = res.details["ar_set"]
    assert lo1 == -math.inf and hi2 == math.inf and hi1 < lo2
    assert "∪" in res.details["ar_set_text"]
    e = res["2SLS"]
    assert (e.ci_low, e.ci_high) == (-math.inf, math.inf)  # the hull, said to be a hull
    # the boundaries solve AR(b) = chi2_k quantile; the gap between the pieces is rejected
    ins = instrument if isinstance(instrument, list) else [instrument]
    M = _partial_out(np.ones((len(df), 1)), df[["y", "d", *ins]].to_numpy(float))
    st = _stages(M[:, 0], M[:, 1], M[:, 2:], 1, "hc1", None)
    c = res.details["ar_critical_value"]
    assert _ar_stat(st, np.array([hi1, lo2])) == pytest.approx([c, c], rel=1e-7)
    assert _ar_stat(st, np.array([(hi1 + lo2) / 2]))[0] > c


def test_strong_instrument_keeps_wald_headline():
    res = iv(_weak_frame(1.0), outcome="y", treatment="d", instrument="z")
    assert res.status == "ok" and res.details["headline_interval"] == "wald"
    e = res["2SLS"]
    assert e.ci_low < 0.5 < e.ci_high  # 0.5: the simulated truth


# ----------------------------------------------------------------------------- access design


def test_access_returns_itt_complier_share_and_late():
    sim = simulate("access", n_users=20_000, seed=1)
    res = iv(sim.data, outcome="tasks_completed", treatment="used_feature", instrument="access")
    assert res.labels == ["ITT", "first stage (complier share)", "LATE"]
    assert res.headline == "LATE"
    itt, fs, late = (res[k] for k in res.labels)
    assert late.estimate == pytest.approx(itt.estimate / fs.estimate, rel=1e-10)  # Wald
    # simulator truths, each inside a 4-SE band (a seeded draw; 4 SE keeps this deterministic
    # check well away from chance failure while still catching a wrong estimand)
    for e, key in ((itt, "itt"), (fs, "complier_share"), (late, "late")):
        assert abs(e.estimate - sim.truths[key]) < 4 * e.std_error
    arms = res.details["arms"]
    assert arms["no access"]["take_up"] == 0.0  # one-sided non-compliance by default
    assert arms["shares"]["compliers"] == pytest.approx(fs.estimate, rel=1e-10)


def test_weak_switch_is_well_defined_at_tiny_sizes():
    for n in (4, 50, 1_000):
        sim = simulate("access", n_users=n, seed=0, weak=True)
        assert 0 < sim.truths["complier_share"] <= 0.42  # never above the default share


def test_late_differs_from_ate_in_the_scenario():
    truths = simulate("access", n_users=100, seed=0).truths
    assert truths["late"] - truths["ate"] > 0.5  # heterogeneity by design
    assert truths["itt"] == pytest.approx(truths["late"] * truths["complier_share"])


def test_weak_switch_fails_the_diagnostic_and_uses_ar():
    sim = simulate("access", n_users=20_000, seed=2, weak=True, always_takers=True)
    res = iv(sim.data, outcome="tasks_completed", treatment="used_feature", instrument="access")
    diag = res.diagnostics[0]
    assert diag.verdict == "fail" and diag.consequence == "downgrade"
    assert res.status == "downgraded"
    assert res.details["headline_interval"] == "anderson-rubin"
    assert res["ITT"].status == "ok"  # the randomized comparison itself stays valid
    assert "weak instrument" in res["LATE"].inference


def test_complier_profile_recovers_who_complies():
    sim = simulate("access", n_users=200_000, seed=3, always_takers=True)
    res = iv(
        sim.data,
        outcome="tasks_completed",
        treatment="used_feature",
        instrument="access",
        covariates=["engagement_tier"],
    )
    prof = res.details["complier_profile"]
    # truth from the scenario's parameters: P(tier | complier) with complier probabilities
    # .30*.95 / .50*.90 / .70*.80 (always-takers removed first) and tier shares .55 / .30 / .15
    joint = {"light": 0.55 * 0.285, "medium": 0.30 * 0.45, "heavy": 0.15 * 0.56}
    total = sum(joint.values())
    for tier in ("light", "medium"):  # "heavy" is the reference level of the dummies
        # 200,000 users: the ratio estimator's SE is about 0.005; 0.02 is 4 SE
        assert prof[f"engagement_tier[{tier}]"]["compliers"] == pytest.approx(
            joint[tier] / total, abs=0.02
        )


def test_covariates_and_clusters_run_and_tighten():
    sim = simulate("access", n_users=10_000, seed=4)
    base = iv(sim.data, outcome="tasks_completed", treatment="used_feature", instrument="access")
    adj = iv(
        sim.data,
        outcome="tasks_completed",
        treatment="used_feature",
        instrument="access",
        covariates=["engagement_tier", "prior_tasks"],
        cluster="workspace_id",
    )
    assert adj["LATE"].std_error < base["LATE"].std_error  # tier and prior_tasks explain y
    assert adj.params["vce"] == "cluster"


def test_invariances():
    sim = simulate("access", n_users=3_000, seed=6)
    df = sim.data
    kw = {"treatment": "used_feature", "instrument": "access"}
    a = iv(df, outcome="tasks_completed", **kw)["LATE"]
    b = iv(df.sample(frac=1.0, random_state=1), outcome="tasks_completed", **kw)["LATE"]
    assert b.estimate == pytest.approx(a.estimate, rel=1e-10)
    assert b.std_error == pytest.approx(a.std_error, rel=1e-10)
    # recoding the instrument (1 - access) leaves the LATE unchanged; recoding the treatment
    # (1 - use) flips its sign (the Wald ratio's numerator or denominator changes sign)
    flip = df.assign(no_access=1 - df["access"], not_used=1 - df["used_feature"])
    z_flip = iv(flip, outcome="tasks_completed", treatment="used_feature", instrument="no_access")
    assert z_flip["LATE"].estimate == pytest.approx(a.estimate, rel=1e-10)
    assert z_flip["LATE"].std_error == pytest.approx(a.std_error, rel=1e-10)
    d_flip = iv(flip, outcome="tasks_completed", treatment="not_used", instrument="access")
    assert d_flip["LATE"].estimate == pytest.approx(-a.estimate, rel=1e-10)
    df2 = df.assign(y2=3 * df["tasks_completed"] + 7)
    c = iv(df2, outcome="y2", **kw)["LATE"]
    assert c.estimate == pytest.approx(3 * a.estimate, rel=1e-10)
    assert c.std_error == pytest.approx(3 * a.std_error, rel=1e-10)


def test_bad_options_raise_typed_errors(mroz):
    kw = {"outcome": "lwage", "treatment": "educ", "instrument": "fatheduc"}
    with pytest.raises(truelift.DesignError, match="hc1"):
        iv(mroz, vce="hc3", **kw)
    with pytest.raises(truelift.DesignError):
        iv(mroz, outcome="lwage", treatment="educ", instrument="educ")
    with pytest.raises(truelift.DesignError):
        iv(mroz, outcome="lwage", treatment="educ", instrument=[])
    with pytest.raises(truelift.DesignError):
        iv(mroz, conf_level=1.5, **kw)
    with pytest.raises(truelift.DataError):  # instrument collinear with a control
        iv(mroz.assign(f2=2 * mroz["fatheduc"]), covariates=["f2"], **kw)
    with pytest.raises(truelift.MissingValueError):
        iv(pd.read_csv(REF / "data" / "mroz.csv"), **kw)  # lwage is missing when inlf == 0


def test_full_compliance_reduces_to_the_itt():
    # Everyone with access uses the feature and no one else can: LATE = ITT (Wald with a first
    # stage of exactly 1), the first-stage variance is zero and the effective F is infinite.
    rng = np.random.default_rng(0)
    z = rng.binomial(1, 0.5, 1_000)
    df = pd.DataFrame({"z": z, "d": z, "y": z + rng.normal(size=1_000)})
    res = iv(df, outcome="y", treatment="d", instrument="z")
    assert res["LATE"].estimate == pytest.approx(res["ITT"].estimate, rel=1e-12)
    assert res["LATE"].std_error == pytest.approx(res["ITT"].std_error, rel=1e-10)
    assert res["first stage (complier share)"].estimate == pytest.approx(1.0)
    assert math.isinf(res.details["first_stage"]["F_eff"]) and res.status == "ok"
    json.dumps(res.to_dict(), allow_nan=False)
