"""Inference core against closed forms and published numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tests.conftest import reference_csv
from truelift.errors import DataError, DesignError
from truelift.inference import (
    adjust_pvalues,
    delta_ratio,
    if_se,
    if_vcov,
    interval,
    ols,
    relative_lift,
)


@pytest.fixture
def rng():
    return np.random.default_rng(12)


def test_if_se_of_a_mean_is_the_plugin_standard_error(rng):
    y = rng.normal(size=500)
    # closed form: the IF of the mean is y - ybar; SE = sd(ddof=0)/sqrt(n)
    assert if_se(y - y.mean()) == pytest.approx(y.std() / np.sqrt(y.size), rel=1e-12)


def test_cluster_if_se_matches_cr1_of_cluster_totals(rng):
    y = rng.normal(size=300)
    g = np.repeat(np.arange(30), 10)
    psi = y - y.mean()
    totals = np.bincount(g, weights=psi)
    expected = np.sqrt(30 / 29 * np.sum(totals**2)) / 300  # closed form of CR1 on the IF
    assert if_se(psi, g) == pytest.approx(expected, rel=1e-12)
    assert if_vcov(np.column_stack([psi, psi]), g).shape == (2, 2)


def test_interval_normal_and_t():
    lo, hi, p = interval(1.0, 0.5, 0.95)
    assert (lo, hi) == pytest.approx((1 - 1.959963984540054 * 0.5, 1 + 1.959963984540054 * 0.5))
    assert p == pytest.approx(2 * stats.norm.sf(2.0), rel=1e-12)
    lo_t, _, p_t = interval(1.0, 0.5, 0.9, df=10)
    assert lo_t == pytest.approx(1 - stats.t.ppf(0.95, 10) * 0.5)
    assert p_t == pytest.approx(2 * stats.t.sf(2.0, 10))
    with pytest.raises(DesignError):
        interval(1.0, 0.5, 1.5)


def test_delta_method_ratio_matches_numerical_gradient():
    mn, md, vn, vd, c = 2.0, 4.0, 0.01, 0.02, 0.005
    r, v = delta_ratio(mn, md, vn, vd, c)
    grad = np.array([1 / md, -mn / md**2])
    expected = grad @ np.array([[vn, c], [c, vd]]) @ grad
    assert r == 0.5 and v == pytest.approx(expected, rel=1e-12)
    lift, v2 = relative_lift(1.1, 1.0, 0.01, 0.02)
    assert lift == pytest.approx(0.1) and v2 == pytest.approx(0.01 + 1.1**2 * 0.02)
    with pytest.raises(DataError):
        delta_ratio(1.0, 0.0, 1.0, 1.0, 0.0)


def test_ols_hc2_equals_welch_for_a_binary_regressor(rng):
    t = rng.binomial(1, 0.3, 200).astype(float)
    y = 1 + 0.5 * t + rng.normal(size=200) * (1 + t)
    X = np.column_stack([np.ones_like(t), t])
    # closed form: HC2 SE of the dummy coefficient is the Welch SE (s^2 with ddof=1)
    welch = np.sqrt(y[t == 1].var(ddof=1) / (t == 1).sum() + y[t == 0].var(ddof=1) / (t == 0).sum())
    assert ols(X, y, vce="hc2").se[1] == pytest.approx(welch, rel=1e-10)
    # HC0 is the plug-in (ddof=0) version
    hc0 = np.sqrt(y[t == 1].var() / (t == 1).sum() + y[t == 0].var() / (t == 0).sum())
    assert ols(X, y, vce="hc0").se[1] == pytest.approx(hc0, rel=1e-10)


def test_ols_card_krueger_did():
    d = reference_csv("card_krueger.csv").dropna(subset=["fte"])
    X = np.column_stack([np.ones(len(d)), d["nj"], d["d"], d["d_nj"]]).astype(float)
    fit = ols(X, d["fte"].to_numpy(float))
    # Card & Krueger (1994) Table 3 as OLS fte ~ nj + d + d_nj: 2.7536 (4 decimals)
    assert fit.coef[3] == pytest.approx(2.7536, abs=5e-5)


def test_ols_cluster_is_cr1_with_stata_factor(rng):
    n, G = 400, 20
    g = np.repeat(np.arange(G), n // G)
    x = rng.normal(size=n) + rng.normal(size=G)[g]
    y = 0.3 * x + rng.normal(size=n) + rng.normal(size=G)[g]
    X = np.column_stack([np.ones(n), x])
    fit = ols(X, y, cluster=g)
    bread = np.linalg.inv(X.T @ X)
    u = y - X @ fit.coef
    S = np.array([(X[g == k] * u[g == k, None]).sum(0) for k in range(G)])
    expected = G / (G - 1) * (n - 1) / (n - 2) * bread @ S.T @ S @ bread  # written out by hand
    np.testing.assert_allclose(fit.vcov, expected, rtol=1e-10)
    assert fit.n_clusters == G


def test_ols_rejects_singular_designs(rng):
    x = rng.normal(size=50)
    with pytest.raises(DataError, match="singular"):
        ols(np.column_stack([np.ones(50), x, 2 * x]), x)


def test_holm_and_bh_match_r_p_adjust():
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    # R: p.adjust(c(.01,.02,.03,.04,.05), "holm") / "BH"
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.05, 0.08, 0.09, 0.09, 0.09])
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.05] * 5)
    np.testing.assert_allclose(adjust_pvalues([0.04, 0.001], "bh"), [0.04, 0.002])
