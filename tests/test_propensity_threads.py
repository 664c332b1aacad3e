"""The threaded in-memory IPW path: weights bit for bit, and the same figures on 1 or 2 threads.

Above ``_parallel.MIN_ROWS`` rows the Newton passes, the prediction, the weights, the feed's
sums and the diagnostics run over one row range per thread. Splitting a sum changes only the
summation order, so the figures must agree to floating-point rounding (1e-12 relative here;
the sums have ~300k terms, whose rounding is ~1e-16 each).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from truelift import _parallel
from truelift.propensity import ipw
from truelift.propensity.weighting import weights


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATO"])
def test_weights_equal_the_per_arm_formulas_bit_for_bit(estimand, monkeypatch):
    monkeypatch.setenv("TRUELIFT_THREADS", "2")
    rng = np.random.default_rng(4)
    n = _parallel.MIN_ROWS + 1_001
    e = rng.uniform(1e-6, 1 - 1e-6, n)
    t = (rng.random(n) < e).astype(np.float64)
    w, s = weights(e, t, estimand)
    tr = t > 0
    if estimand == "ATE":
        want_w, want_s = np.where(tr, 1.0 / e, 1.0 / (1.0 - e)), np.where(tr, e - 1.0, e)
    elif estimand == "ATT":
        want_w, want_s = np.where(tr, 1.0, e / (1.0 - e)), 1.0 - t
    else:
        want_w, want_s = np.where(tr, 1.0 - e, e), np.where(tr, -e, 1.0 - e)
    assert np.array_equal(w, want_w)
    assert np.array_equal(s, want_s)


def _data(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    X = rng.normal(size=(n, 4))
    p = 1 / (1 + np.exp(-(-0.3 + X @ np.array([0.4, -0.2, 0.1, 0.3]))))
    t = (rng.random(n) < p).astype(int)
    y = X @ np.array([0.5, 0.1, -0.2, 0.0]) + 0.2 * t + rng.normal(size=n)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(t=t, y=y)
    return df.assign(tier=np.where(X[:, 0] > 0.5, "heavy", "light"), cl=np.arange(n) % 97)


@pytest.mark.parametrize("estimand,cluster", [("ATE", None), ("ATT", "cl"), ("ATO", None)])
def test_one_and_two_threads_agree(estimand, cluster, monkeypatch):
    df = _data(_parallel.MIN_ROWS + 20_000)
    kw = {"treatment": "t", "outcome": "y", "covariates": ["a", "b", "c", "tier"]}
    got = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("TRUELIFT_THREADS", threads)
        r = ipw(df, **kw, estimand=estimand, cluster=cluster)
        balance = [row["smd_adj"] for row in r.details["balance"]]
        overlap = r.diagnostics[0].details
        got[threads] = [
            r.estimate,
            r.std_error,
            r.details["propensity"]["auc"],
            overlap["ess_treated"],
            overlap["ess_control"],
            *balance,
        ]
        hist = r.details["overlap_hist"]
        assert sum(hist["treated"]) + sum(hist["control"]) == len(df)
    assert got["2"] == pytest.approx(got["1"], rel=1e-12, abs=1e-15)
