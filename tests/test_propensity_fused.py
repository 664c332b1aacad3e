"""The fused in-memory IPW path (``propensity._fused``) against the one-pass-per-figure pipeline.

``ipw`` with the default logistic score computes the scores, weights, kernel sums and every
diagnostic input in one blocked pass after the fit, and the influence values, AUC cells and
histogram in a second. The reference here is the general pipeline the module replaces for the
default score (``fit_score`` -> ``weights`` -> ``ArrayFeed`` -> ``ipw_flow`` -> ``_array_facts``),
which still serves scikit-learn score models. Both evaluate the same formulas; only summation
order differs, so figures agree to 1e-10 relative (sums of ~300k terms round at ~1e-16 each;
balance SMDs near zero are differences of nearly equal means, hence an absolute 1e-12 on them).

On large data (``_logit._WARM_FROM`` rows, lowered here so the test stays small) the first pass
rides along with the last Newton pass and the fit stops one Newton step short (at most
``EXACT_STEP``); the arm means are moved along that step to first order, so the estimate still
equals the full-step fit to O(step^2), while the SE and the diagnostics move by O(step).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from truelift.propensity import _fused, _logit, ipw
from truelift.propensity._common import load_design
from truelift.propensity._kernel import ArrayFeed, ipw_flow
from truelift.propensity._logit import auc, fit_logit, predict_logit
from truelift.propensity.weighting import _array_facts, trim_mask, weights

REL = 1e-10  # same formulas, summation order only
KW = {"treatment": "t", "outcome": "y", "covariates": ["a", "b", "c", "tier"]}


def _data(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    tier = rng.choice(["heavy", "light", "mid"], size=n, p=[0.2, 0.5, 0.3])
    eta = -0.2 + X @ np.array([0.6, -0.4, 0.2]) + 0.5 * (tier == "heavy") - 0.3 * (tier == "mid")
    t = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    y = 2.0 + X @ np.array([0.5, 0.1, -0.2]) + 0.3 * t + 0.4 * (tier == "heavy")
    y = y + rng.normal(size=n)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(tier=tier, t=t, y=y)
    return df.assign(cl=np.arange(n) % 53)


def _reference(df: pd.DataFrame, estimand: str, trim, cluster, tol: float = 1e-10) -> dict:
    """The one-pass-per-figure pipeline on the same data (what ipw ran before fusing); a
    smaller ``tol`` iterates the logistic fit to the MLE's last digits."""
    design = load_design(df, **KW, cluster=cluster)
    fit = fit_logit(design.X, design.t, tol=tol)
    e = predict_logit(design.X, fit.coef)
    keep, _ = trim_mask(e, trim)
    w, s = weights(e, design.t, estimand)
    w = w * keep
    feed = ArrayFeed(design.t, design.y, e, w, s, design.X, keep, design.cluster)
    est, var, mu1, mu0, _ = ipw_flow(feed, fit.hessian)
    facts = _array_facts(design, e, w, keep, auc(e, design.t))
    return {"est": est, "se": np.sqrt(var), "mu": (mu1, mu0), "facts": facts}


def _compare_facts(got: dict, want) -> None:
    assert got["overlap_hist"] == want.hist
    assert got["propensity"]["auc"] == pytest.approx(want.auc, rel=REL)
    assert (got["propensity"]["min"], got["propensity"]["max"]) == pytest.approx(want.e_range)
    for row, ref in zip(got["balance"], want.balance, strict=True):
        assert row["covariate"] == ref["covariate"]
        for key, value in ref.items():
            if key.startswith("smd"):
                assert row[key] == pytest.approx(value, rel=REL, abs=1e-12), (ref, key)
            elif key != "covariate":
                assert row[key] == pytest.approx(value, rel=REL), (ref, key)


@pytest.mark.parametrize(
    "estimand,trim,cluster",
    [("ATE", None, None), ("ATT", 0.1, "cl"), ("ATO", None, "cl"), ("ATE", (0.2, 0.9), None)],
)
def test_fused_equals_the_general_pipeline(estimand, trim, cluster):
    df = _data(240_000)  # above AUC_EXACT_ROWS: the binned AUC path
    r = ipw(df, **KW, estimand=estimand, trim=trim, cluster=cluster)
    ref = _reference(df, estimand, trim, cluster)
    assert r.estimate == pytest.approx(ref["est"], rel=REL)
    assert r.std_error == pytest.approx(ref["se"], rel=REL)
    assert (r.params["mean_treated"], r.params["mean_control"]) == pytest.approx(ref["mu"])
    _compare_facts(r.details, ref["facts"])
    overlap = r.diagnostics[0].details
    for key, value in ref["facts"].overlap.items():
        assert overlap[key] == pytest.approx(value, rel=REL), key
    assert r.params["n_treated"] == ref["facts"].n_treated


def test_small_data_uses_the_exact_auc_and_equals_the_pipeline():
    df = _data(3_000, seed=8)
    r = ipw(df, **KW)
    ref = _reference(df, "ATE", None, None)
    assert r.estimate == pytest.approx(ref["est"], rel=REL)
    assert r.std_error == pytest.approx(ref["se"], rel=REL)
    _compare_facts(r.details, ref["facts"])


def test_warm_path_stops_one_step_short_and_corrects_the_means(monkeypatch):
    df = _data(120_000, seed=5)
    ref = _reference(df, "ATE", None, None, tol=1e-20)  # the MLE to its last digits
    monkeypatch.setattr(_logit, "_WARM_FROM", 100_000)  # warm start + gathering pass
    monkeypatch.setattr(_logit, "_WARM_ROWS", 30_000)
    seen = {}
    real = _fused.fused_ipw

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen["pending"] = out.pending
        return out

    monkeypatch.setattr(_fused, "fused_ipw", spy)
    monkeypatch.setattr("truelift.propensity.weighting.fused_ipw", spy)
    r = ipw(df, **KW)
    step = seen["pending"]
    assert step is not None, "the fit should have stopped at the gathering pass"
    assert 0 < np.max(np.abs(step)) <= _fused.EXACT_STEP
    # the estimate is corrected to O(step^2) (measured 3e-16 here; the default-tolerance fit
    # from the intercept is itself 1e-11 away); the SE and the diagnostics are O(step) away
    assert r.estimate == pytest.approx(ref["est"], rel=1e-13)
    assert r.std_error == pytest.approx(ref["se"], rel=1e-6)
    assert r.details["propensity"]["auc"] == pytest.approx(ref["facts"].auc, abs=1e-6)


def test_a_subsample_separated_level_does_not_stop_the_fit(monkeypatch):
    # a rare level that the warm-start subsample only sees among the treated: the subsample's
    # fit is separated, the full data's is not; the fit starts from scratch instead of raising
    n = 4_000
    df = _data(n, seed=2)
    rare = np.zeros(n, dtype=bool)
    rare[::400] = True  # 10 rows, all in the every-20th subsample
    rare[7::800] = True  # 5 more rows, not in it
    df["tier"] = np.where(rare, "rare", df["tier"])
    df.loc[np.flatnonzero(rare)[::1], "t"] = 1
    df.loc[np.arange(7, n, 800), "t"] = 0  # untreated rare rows exist only outside the subsample
    monkeypatch.setattr(_logit, "_WARM_FROM", 1_000)
    monkeypatch.setattr(_logit, "_WARM_ROWS", 200)
    r = ipw(df, **KW)
    monkeypatch.setattr(_logit, "_WARM_FROM", 10**12)
    cold = ipw(df, **KW)
    assert r.estimate == pytest.approx(cold.estimate, rel=1e-9)


def test_a_fit_that_ends_on_the_first_warm_pass_gets_a_full_hessian(monkeypatch):
    # every row of the subsample repeated 20 times: the subsample's fit is the full data's MLE,
    # so the fit converges on its first full pass, whose Hessian came from a quarter of the
    # blocks; the SE must still use the Hessian of every row
    base = _data(2_000, seed=4)
    df = base.loc[base.index.repeat(20)].reset_index(drop=True)
    monkeypatch.setattr(_logit, "_WARM_FROM", 40_000)
    monkeypatch.setattr(_logit, "_WARM_ROWS", 2_000)
    monkeypatch.setattr(_logit, "_BLOCK", 4_096)  # several blocks, so a quarter is a subset
    monkeypatch.setattr(_fused, "_BLOCK", 4_096)
    warm = ipw(df, **KW)
    ref = _reference(df, "ATE", None, None, tol=1e-20)  # the MLE to its last digits
    # measured 1e-15 (a Hessian from a quarter of the rows is a sample estimate, off by the
    # sampling error of 1/4 of the rows; the default-tolerance cold fit is 2e-9 away in the SE)
    assert warm.estimate == pytest.approx(ref["est"], rel=1e-12)
    assert warm.std_error == pytest.approx(ref["se"], rel=1e-12)


@pytest.mark.parametrize("m", [1, 7, 8, 9, 1000, 32767, 32768])
def test_the_likelihood_sum_by_products_of_eight_equals_the_sum_of_logs(m: int) -> None:
    # sum_log takes one log per 8 terms when |x'b| <= 30 (no product can underflow); the terms
    # here are the smallest such a block can hold (1 - expit(30)) up to 1. Reference: the sum of
    # the terms' logs; tolerance: each product rounds at a few 1e-16 relative.
    rng = np.random.default_rng(m)
    q = np.exp(rng.uniform(np.log(1 - 1 / (1 + np.exp(-30.0))), 0.0, m))
    want = float(np.log(q).sum())
    assert _logit.sum_log(q.copy(), 30.0) == pytest.approx(want, rel=1e-14)
    # larger |x'b|: term by term, the very same operations
    assert _logit.sum_log(q.copy(), 31.0) == want
