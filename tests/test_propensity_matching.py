"""Matching: the Abadie-Imbens estimate and variance against a direct loop implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import truelift
from truelift.errors import DesignError
from truelift.propensity import match, propensity_score


def _data(n=600, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.binomial(1, expit(-0.5 + x))
    y = 1 + 0.5 * t + x + 0.3 * t * x + rng.normal(size=n)
    return pd.DataFrame({"t": t, "y": y, "x": x, "z": rng.normal(size=n)})


def _reference(df, estimand, k):
    """Abadie & Imbens (2006) written out with loops (their eq. for tau and Theorem 7)."""
    ps = propensity_score(df, treatment="t", covariates=["x"]).scores
    z = np.log(ps / (1 - ps))
    t, y = df.t.to_numpy(), df.y.to_numpy(float)
    n = len(t)
    K = np.zeros(n)
    imp = np.zeros(n)
    focal = np.flatnonzero(t == 1) if estimand == "ATT" else np.arange(n)
    for i in focal:
        pool = np.flatnonzero(t != t[i])
        d = np.abs(z[pool] - z[i])
        near = pool[np.argsort(d, kind="stable")[:k]]
        imp[i] = y[near].mean()
        K[near] += 1
    s2 = np.zeros(n)
    for i in range(n):
        same = np.flatnonzero((t == t[i]) & (np.arange(n) != i))
        near = same[np.argsort(np.abs(z[same] - z[i]), kind="stable")[:2]]
        s2[i] = 2 / 3 * (y[i] - y[near].mean()) ** 2
    y1 = np.where(t == 1, y, imp)
    y0 = np.where(t == 1, imp, y)
    tau = np.mean((y1 - y0)[focal])
    M = k
    if estimand == "ATT":
        c = t == 0
        v = (((y1 - y0 - tau) ** 2)[focal].sum() + (K * (K - 1) / M**2 * s2)[c].sum()) / len(
            focal
        ) ** 2
    else:
        v = (
            ((y1 - y0 - tau) ** 2).sum() + (((K / M) ** 2 + (2 * M - 1) / M * K / M) * s2).sum()
        ) / n**2
    return tau, np.sqrt(v)


@pytest.mark.parametrize(("estimand", "k"), [("ATT", 1), ("ATT", 3), ("ATE", 1), ("ATE", 2)])
def test_matches_loop_reference(estimand, k):
    df = _data()
    tau, se = _reference(df, estimand, k)
    r = match(df, treatment="t", outcome="y", covariates=["x"], estimand=estimand, k=k)
    assert r.estimate == pytest.approx(tau, rel=1e-10)  # same algorithm, exact arithmetic
    assert r.std_error == pytest.approx(se, rel=1e-10)


def test_options_and_diagnostics(saas):
    d = saas.data.iloc[:8000]
    kw = {
        "treatment": "opt_in_agent_mode",
        "outcome": "task_completed",
        "covariates": ["engagement_tier", "query_confidence"],
    }
    base = match(d, **kw)
    assert base.diagnostic("balance").verdict == "pass"
    assert base.diagnostic("Rosenbaum bounds").value >= 1
    bc = match(d, **kw, bias_correct=True)
    assert bc.estimate != base.estimate and abs(bc.estimate - base.estimate) < base.std_error
    mh = match(d, **kw, on="mahalanobis")
    assert abs(mh.estimate - base.estimate) < 2 * base.std_error
    cal = match(d, **kw, caliper=1e-4)
    assert cal.params["n_unmatched"] > 0 and "caliper" in cal.estimand
    nr = match(d, **kw, replace=False)
    counts = nr.details["balance"]  # matched weights are 0/1 without replacement
    assert counts and nr.params["replace"] is False
    with pytest.raises(DesignError):
        match(d, **kw, on="euclid")
    with pytest.raises(DesignError):
        match(d, **kw, k=0)
    with pytest.raises(DesignError):
        match(d, **kw, on="mahalanobis", replace=False)


def test_without_replacement_uses_each_control_once():
    from truelift.propensity._nn import greedy

    rng = np.random.default_rng(1)
    q, ref = rng.normal(size=50), rng.normal(size=120)
    idx, dist = greedy(q, ref, 2, np.argsort(-q))
    used = idx[idx >= 0]
    assert len(used) == len(set(used.tolist())) == 100
    assert np.all(np.isfinite(dist))


def test_truth_recovered_on_optin():
    s = truelift.simulate("optin", n_users=10_000, seed=5)
    r = match(
        s.data,
        treatment="agent_mode",
        outcome="task_completed",
        covariates=["engagement_tier", "plan", "log_tenure", "prior_tasks"],
        k=4,
        bias_correct=True,
    )
    assert abs(r.estimate - s.truths["agent_att"]) < 3 * r.std_error  # simulator truth
