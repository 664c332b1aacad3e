"""Contract cases for the propensity design and the regression sensitivity analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from tests.contract import ContractCase
from truelift.propensity import aipw, ipw, match
from truelift.sensitivity import sensitivity


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], size=n)
    t = rng.binomial(1, expit(-0.3 + 0.7 * x + 0.4 * (g == "b")))
    y = 1.0 + 0.5 * t + x + 0.3 * (g == "c") + rng.normal(size=n)
    return pd.DataFrame({"t": t, "y": y, "x": x, "g": g, "cl": rng.integers(0, 30, n)})


_KW = {"treatment": "t", "outcome": "y", "covariates": ["x", "g"]}

CASES = [
    ContractCase("ipw_ate", ipw, _data, dict(_KW), outcome="y", treatment="t"),
    ContractCase(
        "ipw_att_cluster",
        ipw,
        _data,
        {**_KW, "estimand": "ATT", "cluster": "cl"},
        outcome="y",
        treatment="t",
    ),
    ContractCase(
        "ipw_ato_trim",
        ipw,
        _data,
        {**_KW, "estimand": "ATO", "trim": 0.05},
        outcome="y",
        treatment="t",
    ),
    ContractCase("aipw", aipw, _data, dict(_KW), outcome="y", treatment="t"),
    ContractCase(
        "aipw_crossfit", aipw, _data, {**_KW, "folds": 3, "rng": 1}, outcome="y", treatment="t"
    ),
    ContractCase("match_att", match, _data, dict(_KW), outcome="y", treatment="t"),
    ContractCase(
        "match_ate_mahalanobis",
        match,
        _data,
        {**_KW, "estimand": "ATE", "on": "mahalanobis", "k": 2, "bias_correct": True},
        outcome="y",
        treatment="t",
    ),
    ContractCase("sensitivity", sensitivity, _data, dict(_KW), outcome="y", treatment="t"),
]
