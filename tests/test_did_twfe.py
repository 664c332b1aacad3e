"""2x2 DiD and TWFE: parity with published and reference numbers.

Sources: Card & Krueger (1994, AER) Table 3 and the OLS fte ~ nj + d + d_nj (tests/reference/data
README); R `did` 2.5.0 docs / lm + vcovCL for the mpdta TWFE (README); the saas tutorial numbers
(docs SIMULATOR.md section 1). Each tolerance is half a unit of the last printed digit unless said.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift.did import did_2x2, twfe
from truelift.did._fe import demean

DATA = Path(__file__).parent / "reference" / "data"
REF = json.loads((Path(__file__).parent / "reference" / "did_twfe_reference.json").read_text())


@pytest.fixture(scope="module")
def mpdta():
    d = pd.read_csv(DATA / "mpdta.csv")
    d["post"] = ((d["first.treat"] > 0) & (d["year"] >= d["first.treat"])).astype(int)
    return d


@pytest.fixture(scope="module")
def saas_did():
    d = truelift.simulate("saas", n_users=50_000, seed=42).data
    d = d[d["signup_week"] < 30].copy()
    d["post"] = (d["signup_week"] >= 20).astype(int)
    d["treated"] = (d["wave"] == 1).astype(int)
    return d


def test_card_krueger():
    ck = pd.read_csv(DATA / "card_krueger.csv")
    with pytest.warns(truelift.MissingDataWarning):
        e = did_2x2(ck, outcome="fte", treated="nj", post="d", missing="drop")
    assert e.estimate == pytest.approx(2.7536, abs=5e-5)  # printed to 4 decimals
    cm = e.details["cell_means"]  # Table 3, printed to 2 decimals
    assert cm["control_pre"] == pytest.approx(23.33, abs=5e-3)
    assert cm["control_post"] == pytest.approx(21.17, abs=5e-3)
    assert cm["treated_pre"] == pytest.approx(20.44, abs=5e-3)
    assert cm["treated_post"] == pytest.approx(21.03, abs=5e-3)


def test_card_krueger_regression_equals_cell_means():
    ck = pd.read_csv(DATA / "card_krueger.csv").dropna(subset=["fte"])
    ck["one"] = np.arange(len(ck)) % 2  # a covariate to force the regression path
    cell = did_2x2(ck, outcome="fte", treated="nj", post="d")
    # with no covariates, a saturated OLS reproduces the cell means exactly (algebra)
    X = np.column_stack([np.ones(len(ck)), ck.nj, ck.d, ck.nj * ck.d])
    beta = np.linalg.lstsq(X, ck.fte.to_numpy(), rcond=None)[0]
    assert cell.estimate == pytest.approx(beta[3], rel=1e-12)


def test_saas_2x2(saas_did):
    e = did_2x2(saas_did, outcome="task_completed", treated="treated", post="post")
    cm, cn = e.details["cell_means"], e.details["cell_n"]
    # tutorial cell means printed to 3 decimals, counts exact
    assert cm["control_pre"] == pytest.approx(0.556, abs=5e-4) and cn["control_pre"] == 9_590
    assert cm["control_post"] == pytest.approx(0.555, abs=5e-4) and cn["control_post"] == 4_878
    assert cm["treated_pre"] == pytest.approx(0.592, abs=5e-4) and cn["treated_pre"] == 9_633
    assert cm["treated_post"] == pytest.approx(0.643, abs=5e-4) and cn["treated_post"] == 4_738
    assert e.estimate == pytest.approx(0.0527, abs=5e-5)


def test_saas_regression_clustered(saas_did):
    e = did_2x2(
        saas_did,
        outcome="task_completed",
        treated="treated",
        post="post",
        covariates=["engagement_tier"],
        cluster="workspace_id",
    )
    assert e.estimate == pytest.approx(0.0541, abs=5e-5)  # printed to 4 decimals
    assert e.std_error == pytest.approx(0.011, abs=5e-4)  # printed to 3 decimals
    assert e.diagnostic("number of clusters").verdict == "pass"  # 50 workspaces


def test_mpdta_twfe(mpdta):
    e = twfe(mpdta, outcome="lemp", unit="countyreal", time="year", treatment="post")
    # README: -0.036549 (county-clustered se 0.014832), printed to 6 decimals
    assert e.estimate == pytest.approx(-0.036549, abs=5e-7)
    assert e.std_error == pytest.approx(0.014832, abs=5e-7)
    assert e.params["cluster"] == "countyreal"
    assert e.diagnostic("negative TWFE weights").verdict == "warn"  # 3 cohorts


def test_mpdta_nested_dof_and_pyfixest(mpdta):
    e = twfe(
        mpdta, outcome="lemp", unit="countyreal", time="year", treatment="post", fe_dof="nested"
    )
    # nested: county effects are nested in the county clusters and are not counted in K, so the
    # SE is sqrt((n-K_full)/(n-K_nested)) smaller; K = 1 slope + 5 year effects
    full = twfe(mpdta, outcome="lemp", unit="countyreal", time="year", treatment="post")
    ratio = np.sqrt((2500 - 505) / (2500 - 6))
    assert e.std_error == pytest.approx(full.std_error * ratio, rel=1e-10)
    # pyfixest 0.60 feols default ssc (tests/reference/did_twfe_reference.json): same algebra,
    # so only floating-point noise separates the numbers
    r = REF["mpdta_pyfixest"]
    assert e.estimate == pytest.approx(r["coef"], rel=1e-9)
    assert e.std_error == pytest.approx(r["se"], rel=1e-9)
    r = REF["mpdta_pyfixest_full"]
    assert full.std_error == pytest.approx(r["se"], rel=1e-9)


def test_demean_matches_dummies():
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.integers(0, 20, n), rng.integers(0, 7, n)  # unbalanced: iterate
    y = rng.normal(size=n) + a * 0.1
    D = np.column_stack([np.eye(20)[a], np.eye(7)[b][:, 1:]])
    resid = y - D @ np.linalg.lstsq(D, y, rcond=None)[0]
    assert demean(y, [a, b]) == pytest.approx(resid, abs=1e-8)


def test_twfe_unbalanced_matches_dummy_regression(mpdta):
    d = mpdta.sample(frac=0.8, random_state=1)
    e = twfe(d, outcome="lemp", unit="countyreal", time="year", treatment="post")
    u, t = pd.factorize(d.countyreal)[0], pd.factorize(d.year)[0]
    X = np.column_stack([d.post, np.eye(u.max() + 1)[u], np.eye(t.max() + 1)[t][:, 1:]])
    fit = truelift.inference.ols(X, d.lemp.to_numpy(), cluster=u)  # CR1, K counts all dummies
    assert e.estimate == pytest.approx(fit.coef[0], rel=1e-7)
    assert e.std_error == pytest.approx(fit.se[0], rel=1e-6)


def test_wild_bootstrap_few_clusters(mpdta):
    d = mpdta.assign(state=mpdta.countyreal // 1000)  # 29 state-like clusters
    kw = dict(outcome="lemp", unit="countyreal", time="year", treatment="post", cluster="state")
    asym = twfe(d, **kw)
    wb = twfe(d, **kw, wild_bootstrap=True, bootstrap_weights="webb", rng=3)
    again = twfe(d, **kw, wild_bootstrap=True, bootstrap_weights="webb", rng=3)
    assert wb.p_value == again.p_value and wb.ci_low == again.ci_low  # seeded
    # the bootstrap re-fits on rows (alternating projections) while the asymptotic fit of this
    # sorted balanced panel is the closed form: equal up to floating-point rounding
    assert wb.estimate == pytest.approx(asym.estimate, rel=1e-12)
    assert wb.std_error == pytest.approx(asym.std_error, rel=1e-12)
    assert wb.ci_low < wb.estimate < wb.ci_high
    # the bootstrap interval is the set of nulls not rejected: its p-value at the bound is ~alpha
    assert 0.02 < wb.p_value < 0.5 and 0.02 < asym.p_value < 0.5
    assert "wild cluster bootstrap" in wb.inference
    # pyfixest + wildboottest, webb weights, 99,999 draws: p = 0.1353; ours uses 999 draws, so
    # the Monte Carlo SE of our p is sqrt(.135 * .865 / 999) = 0.011: allow 3 of those
    ref = REF["mpdta_state_wildboot_webb"]["pvalue"]
    assert wb.p_value == pytest.approx(ref, abs=0.033)
    assert asym.diagnostic("number of clusters").verdict == "warn"


def test_few_clusters_downgrades(mpdta):
    d = mpdta.assign(state=mpdta.countyreal % 6)
    e = twfe(d, outcome="lemp", unit="countyreal", time="year", treatment="post", cluster="state")
    assert e.diagnostic("number of clusters").verdict == "fail"
    assert e.status == "downgraded"


def test_bad_options(mpdta):
    kw = dict(outcome="lemp", unit="countyreal", time="year", treatment="post")
    with pytest.raises(truelift.DesignError, match="fe_dof"):
        twfe(mpdta, **kw, fe_dof="some")
    with pytest.raises(truelift.DesignError, match="bootstrap_weights"):
        twfe(mpdta, **kw, bootstrap_weights="mammen")


def test_twfe_invariances(mpdta):
    kw = dict(outcome="lemp", unit="countyreal", time="year", treatment="post")
    e = twfe(mpdta, **kw)
    shuffled = twfe(mpdta.sample(frac=1.0, random_state=0), **kw)
    assert shuffled.estimate == pytest.approx(e.estimate, rel=1e-9)
    scaled = twfe(mpdta.assign(lemp=3 * mpdta.lemp + 2), **kw)
    assert scaled.estimate == pytest.approx(3 * e.estimate, rel=1e-9)
    assert scaled.std_error == pytest.approx(3 * e.std_error, rel=1e-9)


def test_twfe_covariate_matches_dummy_regression(mpdta):
    d = mpdta.assign(x=np.sin(mpdta.countyreal * mpdta.year))  # time-varying covariate
    e = twfe(d, outcome="lemp", unit="countyreal", time="year", treatment="post", covariates=["x"])
    u, t = pd.factorize(d.countyreal)[0], pd.factorize(d.year)[0]
    X = np.column_stack([d.post, d.x, np.eye(u.max() + 1)[u], np.eye(t.max() + 1)[t][:, 1:]])
    fit = truelift.inference.ols(X, d.lemp.to_numpy(), cluster=u)  # CR1 with every dummy in K
    assert e.estimate == pytest.approx(fit.coef[0], rel=1e-8)
    assert e.std_error == pytest.approx(fit.se[0], rel=1e-7)
    assert e.details["coef"]["x"] == pytest.approx(fit.coef[1], rel=1e-7)


def test_wild_bootstrap_with_covariate(mpdta):
    ref = REF.get("mpdta_state_wildboot_webb_covariate")
    if ref is None or "pvalue" not in ref:
        pytest.skip("reference not generated")
    d = mpdta.assign(x=np.sin(mpdta.countyreal * mpdta.year), state=mpdta.countyreal // 1000)
    e = twfe(
        d,
        outcome="lemp",
        unit="countyreal",
        time="year",
        treatment="post",
        covariates=["x"],
        cluster="state",
        wild_bootstrap=True,
        bootstrap_weights="webb",
        rng=5,
    )
    assert e.estimate == pytest.approx(ref["coef"], rel=1e-9)
    # 999 draws: Monte Carlo SE of p about 0.011 at p ~ 0.13; allow 3 of those
    assert e.p_value == pytest.approx(ref["pvalue"], abs=0.033)


def test_string_and_sparse_keys_agree(mpdta):
    # integer keys take the O(n) coding path, strings the sort-based one; ids far apart exercise
    # the sort fallback for integers: all three must give the same fit
    kw = dict(outcome="lemp", time="year", treatment="post")
    base = twfe(mpdta, unit="countyreal", **kw)
    as_str = twfe(mpdta.assign(c=mpdta.countyreal.astype(str)), unit="c", **kw)
    sparse = twfe(mpdta.assign(c=mpdta.countyreal * 10**12), unit="c", **kw)
    for other in (as_str, sparse):
        assert other.estimate == pytest.approx(base.estimate, rel=1e-12)
        assert other.std_error == pytest.approx(base.std_error, rel=1e-12)
