"""Contract cases for the naive comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

import truelift
from tests.contract import ContractCase


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    t = rng.binomial(1, 0.4, n)
    return pd.DataFrame({"t": t, "y": 1.0 + 0.5 * t + rng.normal(size=n), "x": rng.normal(size=n)})


CASES = [
    ContractCase(
        name="naive_difference",
        func=truelift.naive_difference,
        data=_data,
        kwargs={"treatment": "t", "outcome": "y"},
        outcome="y",
        treatment="t",
    )
]
