"""Contract cases for the uplift design: heterogeneity test, evaluation, policy value."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from tests.contract import ContractCase
from truelift.uplift import evaluate_uplift, heterogeneity_test, policy_value


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    seg = rng.choice(["a", "b", "c"], size=n)
    t = rng.binomial(1, 0.5, n)
    y = 1.0 + 0.5 * x + t * (0.3 + 0.4 * (x > 0)) + rng.normal(size=n)
    return pd.DataFrame(
        {
            "t": t,
            "y": y,
            "x": x,
            "seg": seg,
            "score": x + 0.01 * rng.normal(size=n),
            "pi": (x > 0).astype(int),
        }
    )


_FAST = HistGradientBoostingRegressor(max_iter=15, random_state=0)

CASES = [
    ContractCase(
        name="uplift_heterogeneity_test",
        func=heterogeneity_test,
        data=_data,
        kwargs={
            "treatment": "t",
            "outcome": "y",
            "covariates": ["x", "seg"],
            "by": "seg",
            "propensity": 0.5,
            "model": _FAST,
            "n_folds": 2,
            "rng": 0,
        },
        outcome="y",
        treatment="t",
    ),
    ContractCase(
        name="uplift_evaluate",
        func=evaluate_uplift,
        data=_data,
        kwargs={"treatment": "t", "outcome": "y", "score": "score", "n_boot": 20, "rng": 0},
        outcome="y",
        treatment="t",
    ),
    ContractCase(
        name="uplift_policy_value",
        func=policy_value,
        data=_data,
        kwargs={"treatment": "t", "outcome": "y", "policy": "pi", "propensity": 0.5, "cost": 0.1},
        outcome="y",
        treatment="t",
    ),
]
