"""Callaway & Sant'Anna staggered DiD: parity with R did 2.5.0 on mpdta, and behaviour.

Parity sources:
- tests/reference/data/mpdta_r_did_attgt.csv and mpdta_r_did_aggte.csv: R ``did`` 2.5.0
  (``att_gt`` + ``aggte``, analytic SEs, ``bstrap = FALSE``), four mpdta scenarios.
- the R ``did`` README (mpdta, printed by ``summary(att_gt(...))``): pre-test p-values 0.16812
  (no covariates) and 0.23267 (``xformla = ~lpop``, doubly robust), printed to 5 decimals.
- tests/reference/did_staggered_reference.json: csdid 0.4.3 (Python port of R did), made by
  tests/reference/make_did_staggered_reference.py, for repeated cross-sections and for panel
  DR / IPW with a covariate, which the R files do not cover.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import truelift
from tests.conftest import reference_csv
from truelift.did.staggered import did

# R writes 15 significant digits and our kernels agree with R to ~1e-15; the bar is 1e-6.
PARITY = 1e-8

SCENARIOS = {
    "mpdta_nev_dr": {"control": "never", "method": "dr"},
    "mpdta_nyt_dr": {"control": "notyet", "method": "dr"},
    "mpdta_nev_reg_cov": {"control": "never", "method": "reg", "covariates": ["lpop"]},
    "mpdta_nev_ipw": {"control": "never", "method": "ipw"},
}
COMPONENT = {"group": "g", "dynamic": "e", "calendar": "t"}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return reference_csv("mpdta.csv")


def _fit(data: pd.DataFrame, **kw: object) -> truelift.EstimateSet:
    return did(data, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", **kw)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("aggregation", ["simple", "group", "dynamic", "calendar"])
def test_r_did_parity(mpdta, scenario, aggregation):
    res = _fit(mpdta, aggregation=aggregation, **SCENARIOS[scenario])
    attgt = reference_csv("mpdta_r_did_attgt.csv")
    for row in attgt[attgt.scenario == scenario].itertuples():
        e = res[f"g={row.group},t={row.t}"]
        assert e.estimate == pytest.approx(row.att, abs=PARITY)
        assert e.std_error == pytest.approx(row.se, abs=PARITY)
    aggte = reference_csv("mpdta_r_did_aggte.csv")
    ref = aggte[(aggte.scenario == scenario) & (aggte.type == aggregation)]
    head = res.headline_estimate
    assert head is not None
    assert head.estimate == pytest.approx(ref.overall_att.iloc[0], abs=PARITY)
    assert head.std_error == pytest.approx(ref.overall_se.iloc[0], abs=PARITY)
    if aggregation != "simple":
        for row in ref.itertuples():
            e = res[f"{COMPONENT[aggregation]}={int(row.egt)}"]
            assert e.estimate == pytest.approx(row.att_egt, abs=PARITY)
            assert e.std_error == pytest.approx(row.se_egt, abs=PARITY)


@pytest.mark.parametrize(
    ("kw", "att", "se"),
    [  # headline numbers of R did 2.5.0 (tests/reference/data/README.md)
        ({"aggregation": "simple"}, -0.0399513, 0.0120340),
        ({"aggregation": "group"}, -0.0310183, 0.0124461),
        ({"aggregation": "dynamic"}, -0.0772398, 0.0199650),
        ({"aggregation": "calendar"}, -0.0417004, 0.0159719),
        ({"aggregation": "simple", "control": "notyet"}, -0.0397636, 0.0120524),
    ],
)
def test_headline_numbers(mpdta, kw, att, se):
    head = _fit(mpdta, **kw).headline_estimate
    assert head is not None
    # the README rounds to 7 decimals: half a unit in the last place
    assert head.estimate == pytest.approx(att, abs=5e-8)
    assert head.std_error == pytest.approx(se, abs=5e-8)


@pytest.mark.parametrize(
    ("kw", "p"),
    [  # R did README, summary(att_gt(...)) on mpdta, printed to 5 decimals
        ({}, 0.16812),
        ({"covariates": ["lpop"]}, 0.23267),
        ({"base_period": "universal"}, 0.16812),  # same test, reparametrised pre-periods
    ],
)
def test_pretest_matches_r(mpdta, kw, p):
    d = _fit(mpdta, **kw).diagnostics[0]
    assert d.name == "pre-trends" and d.verdict == "pass"
    assert d.value == pytest.approx(p, abs=5e-6)  # printed to 5 decimals


@pytest.mark.parametrize(
    "scenario",
    ["rc_dr", "rc_dr_lpop", "rc_reg_lpop", "rc_ipw_lpop", "panel_dr_lpop", "panel_ipw_lpop"],
)
def test_csdid_parity(mpdta, scenario):
    ref = json.loads(
        (Path(__file__).parent / "reference" / "did_staggered_reference.json").read_text()
    )
    r = ref[scenario]
    method = scenario.split("_")[1]
    kw: dict[str, object] = {"method": method, "panel": scenario.startswith("panel")}
    if scenario.endswith("lpop"):
        kw["covariates"] = ["lpop"]
    res = _fit(mpdta, **kw)
    for g, t, a, s in zip(r["group"], r["t"], r["att"], r["se"], strict=True):
        e = res[f"g={int(g)},t={int(t)}"]
        # csdid agrees with our kernels to ~1e-14 (same formulas, different linear algebra)
        assert e.estimate == pytest.approx(a, abs=1e-9)
        assert e.std_error == pytest.approx(s, abs=1e-9)


def test_result_shape_and_params(mpdta):
    res = _fit(mpdta, aggregation="dynamic")
    assert res.headline == "ATT (dynamic)"
    assert "g=2004,t=2005" in res.labels and "e=-3" in res.labels
    assert len([k for k in res.labels if k.startswith("g=")]) == 12
    assert res.params["design"] == "did" and res.params["control"] == "never"
    assert res.params["cohorts"] == [2004, 2006, 2007]
    det = res.details["att_gt"]
    assert len(det["att"]) == 12 and det["pre"].count(True) == 5
    assert "influence-function" in res.headline_estimate.inference  # type: ignore[union-attr]
    json.dumps(res.to_dict(), allow_nan=False)


def test_universal_base_post_periods_equal_varying(mpdta):
    # post-treatment ATT(g,t) use base g-1 under both choices (Callaway & Sant'Anna 2021, sec. 3.1)
    a = _fit(mpdta, base_period="universal")
    b = _fit(mpdta)
    for g, t in [(2004, 2005), (2006, 2007), (2007, 2007)]:
        assert a[f"g={g},t={t}"].estimate == pytest.approx(b[f"g={g},t={t}"].estimate, abs=1e-12)
    assert "g=2006,t=2005" not in a.labels  # the reference period itself is not estimated
    # pre-period under universal base: Y_2004 - Y_2005 contrast, i.e. minus the varying one
    assert a["g=2006,t=2004"].estimate == pytest.approx(-b["g=2006,t=2005"].estimate, abs=1e-12)


def test_bands_are_uniform_and_seeded(mpdta):
    a = _fit(mpdta, aggregation="dynamic", bands=True, rng=7)
    b = _fit(mpdta, aggregation="dynamic", bands=True, rng=7)
    crit = a.details["crit_value_aggregation"]
    assert crit == b.details["crit_value_aggregation"]
    assert 1.96 < crit < 4  # a sup-t value over 7 event times lies above the pointwise 1.96
    e = a["e=0"]
    assert e.ci_high - e.estimate == pytest.approx(crit * e.std_error)
    assert "uniform" in e.inference and a.params["bands"] is True
    plain = _fit(mpdta, aggregation="dynamic")["e=0"]
    assert plain.std_error == pytest.approx(e.std_error)  # SEs stay analytic


def test_cluster_se_close_to_unit_level(mpdta):
    # clustering on the unit itself only adds the G/(G-1) factor
    a = _fit(mpdta, cluster="countyreal").headline_estimate
    b = _fit(mpdta).headline_estimate
    assert a.std_error == pytest.approx(b.std_error * math.sqrt(500 / 499), rel=1e-12)  # type: ignore[union-attr]


def test_missing_cohort_means_never_treated(mpdta):
    data = mpdta.copy()
    data["first.treat"] = data["first.treat"].astype(float).replace(0, np.nan)
    a = _fit(data).headline_estimate
    b = _fit(mpdta).headline_estimate
    assert a.estimate == b.estimate  # type: ignore[union-attr]


def test_cohort_after_last_period_is_never_treated(mpdta):
    data = mpdta.copy()
    data.loc[data["first.treat"] == 0, "first.treat"] = 2030
    res = _fit(data)
    assert res.headline_estimate.estimate == _fit(mpdta).headline_estimate.estimate  # type: ignore[union-attr]
    assert any("after the last period" in w for w in res.warnings)


def test_no_never_treated_raises_naming_notyet(mpdta):
    data = mpdta[mpdta["first.treat"] > 0]
    with pytest.raises(truelift.IdentificationError, match="control='notyet'"):
        _fit(data)
    res = _fit(data, control="notyet")  # R did: drop t >= 2007, cohort 2007 only as comparison
    assert res.params["cohorts"] == [2004, 2006]
    assert max(res.params["periods"]) == 2006


def test_switching_treatment_is_a_data_error(mpdta):
    data = mpdta.copy()
    data["d"] = ((data["first.treat"] > 0) & (data["year"] >= data["first.treat"])).astype(int)
    ok = did(data, outcome="lemp", unit="countyreal", time="year", treatment="d")
    assert ok.headline_estimate.estimate == pytest.approx(_fit(mpdta).headline_estimate.estimate)  # type: ignore[union-attr]
    off = (data["first.treat"] == 2004) & (data["year"] == 2006)
    data.loc[off, "d"] = 0
    with pytest.raises(truelift.DataError, match="switches off"):
        did(data, outcome="lemp", unit="countyreal", time="year", treatment="d")
    changing = mpdta.copy()
    changing.loc[changing.index[1], "first.treat"] = 2006
    with pytest.raises(truelift.DataError, match="absorbing"):
        _fit(changing)


def test_pretrend_failure_downgrades_with_bounds(mpdta):
    data = mpdta.copy()
    # a trend of 0.03 per year before adoption for cohort 2007 only: parallel trends fails
    late = data["first.treat"] == 2007
    data.loc[late, "lemp"] += 0.03 * (data.loc[late, "year"] - 2003)
    res = _fit(data)
    d = res.diagnostics[0]
    assert d.verdict == "fail" and res.status == "downgraded"
    sens = res.headline_estimate.details["sensitivity"]  # type: ignore[union-attr]
    lo, hi = sens["robust_ci"]
    head = res.headline_estimate
    assert lo < head.ci_low and hi > head.ci_high  # type: ignore[union-attr]
    assert sens["max_pre_deviation"] >= 0.02
    assert "Rambachan" in d.message


def test_few_clusters_downgrade(mpdta):
    data = mpdta.copy()
    data["state"] = data["countyreal"] % 6
    res = _fit(data, cluster="state")
    d = next(x for x in res.diagnostics if x.name == "clusters")
    assert d.verdict == "fail" and d.value == 6 and res.status == "downgraded"


def test_unbalanced_panel_drops_units(mpdta):
    data = mpdta.drop(index=mpdta.index[:3])  # unit 8001 loses three years
    with pytest.warns(truelift.TrueliftWarning, match="balanced"):
        res = _fit(data)
    assert res.params["n_units"] == 499


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"control": "nevertreated"}, "control must be one of"),
        ({"method": "aipw"}, "method must be one of"),
        ({"aggregation": "event"}, "aggregation must be one of"),
        ({"anticipation": -1}, "anticipation"),
        ({"base_period": "fixed"}, "base_period"),
    ],
)
def test_bad_options(mpdta, kw, match):
    with pytest.raises(truelift.DesignError, match=match):
        _fit(mpdta, **kw)


def test_duplicate_unit_period_rows(mpdta):
    data = pd.concat([mpdta, mpdta.iloc[:1]])
    with pytest.raises(truelift.DataError, match="more than once"):
        _fit(data)


def test_invariances(mpdta):
    base = _fit(mpdta, aggregation="dynamic")
    shuffled = _fit(mpdta.sample(frac=1.0, random_state=3), aggregation="dynamic")
    scaled = mpdta.assign(lemp=2.0 * mpdta["lemp"] + 5.0)
    affine = _fit(scaled, aggregation="dynamic")
    for label, e in base:
        assert shuffled[label].estimate == pytest.approx(e.estimate, abs=1e-12)
        assert affine[label].estimate == pytest.approx(2 * e.estimate, abs=1e-12)
        assert affine[label].std_error == pytest.approx(2 * e.std_error, abs=1e-12)


def test_anticipation_shifts_base_period(mpdta):
    res = _fit(mpdta, anticipation=1)
    # with one anticipation period cohort 2004 has no clean pre-period (2003 + 1 >= 2004)
    assert res.params["cohorts"] == [2006, 2007]
    assert res["g=2006,t=2005"].estimand.endswith("(anticipation window)")
    assert res["g=2006,t=2006"].estimand.endswith("(post-treatment)")


def test_option_combinations_are_checked(mpdta):
    with pytest.raises(truelift.DesignError, match="exactly one"):
        did(mpdta, outcome="lemp", unit="countyreal", time="year")
    with pytest.raises(truelift.DesignError, match="unit="):
        did(mpdta, outcome="lemp", unit=None, time="year", cohort="first.treat")
    with pytest.raises(truelift.DesignError, match="panel data"):
        did(mpdta, outcome="lemp", unit=None, time="year", treatment="treat", panel=False)


def test_cohort_must_be_a_period(mpdta):
    data = mpdta.assign(**{"first.treat": mpdta["first.treat"].replace(2006, 2005.5)})
    with pytest.raises(truelift.DataError, match="not periods"):
        _fit(data)


def test_repeated_cross_sections_without_unit(mpdta):
    res = did(
        mpdta.drop(columns="countyreal"),
        outcome="lemp",
        unit=None,
        time="year",
        cohort="first.treat",
        panel=False,
    )
    # the ATT(g,t) point estimates equal the panel ones without covariates (same cell means)
    panel = _fit(mpdta)
    for label, e in panel:
        if label.startswith("g="):
            assert res[label].estimate == pytest.approx(e.estimate, abs=1e-12)
    assert res.params["panel"] is False and res.params["n_units"] == 2500


def test_notyet_control_uses_later_cohorts(mpdta):
    never = _fit(mpdta)
    notyet = _fit(mpdta, control="notyet")
    # the last cohort has no later cohort, so its cells coincide (R output: both 2007 rows equal)
    assert notyet["g=2007,t=2007"].estimate == never["g=2007,t=2007"].estimate
    assert notyet["g=2004,t=2004"].estimate != never["g=2004,t=2004"].estimate


def test_bad_rng_is_a_design_error(mpdta):
    with pytest.raises(truelift.DesignError, match="rng"):
        _fit(mpdta, bands=True, rng="seven")


def test_unit_and_period_shifts_leave_every_att_unchanged(mpdta):
    # DiD differences out unit levels and period shocks: a property of the design, not a number
    rng = np.random.default_rng(0)
    unit_shift = dict(zip(mpdta["countyreal"].unique(), rng.normal(size=500), strict=True))
    period_shift = {2003: 0.3, 2004: -0.2, 2005: 0.5, 2006: 0.0, 2007: 1.0}
    shifted = mpdta.assign(
        lemp=mpdta["lemp"] + mpdta["countyreal"].map(unit_shift) + mpdta["year"].map(period_shift)
    )
    a, b = _fit(mpdta, aggregation="calendar"), _fit(shifted, aggregation="calendar")
    for label, e in a:
        assert b[label].estimate == pytest.approx(e.estimate, abs=1e-10)
        assert b[label].std_error == pytest.approx(e.std_error, abs=1e-10)
