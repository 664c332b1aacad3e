"""Contract cases for the Callaway & Sant'Anna staggered DiD (truelift.did.staggered.did)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.contract import ContractCase
from truelift.did.staggered import did


def _panel() -> pd.DataFrame:
    """200 units x 4 periods; cohorts 2 and 3 and a never-treated group; effect 0.5 after adoption."""
    rng = np.random.default_rng(0)
    n, periods = 200, np.arange(1, 5)
    cohort = rng.choice([0, 2, 3], size=n, p=[0.4, 0.3, 0.3])
    x = rng.normal(size=n)
    unit_fe = rng.normal(size=n) + 0.3 * x
    rows = []
    for t in periods:
        treated = (cohort > 0) & (t >= cohort)
        y = unit_fe + 0.2 * t + 0.5 * treated + rng.normal(scale=0.5, size=n)
        rows.append(
            pd.DataFrame({"unit": np.arange(n), "period": t, "first": cohort, "x": x, "y": y})
        )
    return pd.concat(rows, ignore_index=True)


def _cross_sections() -> pd.DataFrame:
    return _panel().drop(columns="unit")


CASES = [
    ContractCase(
        name="did_staggered",
        func=did,
        data=_panel,
        kwargs={"outcome": "y", "unit": "unit", "time": "period", "cohort": "first"},
        outcome="y",
    ),
    ContractCase(
        name="did_staggered_dynamic_covariates",
        func=did,
        data=_panel,
        kwargs={
            "outcome": "y",
            "unit": "unit",
            "time": "period",
            "cohort": "first",
            "covariates": ["x"],
            "aggregation": "dynamic",
            "control": "notyet",
        },
        outcome="y",
        rel_tol=1e-7,
    ),
    ContractCase(
        name="did_staggered_repeated_cross_sections",
        func=did,
        data=_cross_sections,
        kwargs={
            "outcome": "y",
            "unit": None,
            "time": "period",
            "cohort": "first",
            "panel": False,
            "method": "reg",
            "covariates": ["x"],
            "aggregation": "group",
        },
        outcome="y",
        rel_tol=1e-7,
    ),
]
