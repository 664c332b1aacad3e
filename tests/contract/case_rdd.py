"""Contract cases for regression discontinuity (sharp, fuzzy) and the density test."""

from __future__ import annotations

import pandas as pd

from tests.contract import ContractCase
from truelift.rdd import density_test, rdd
from truelift.simulate import simulate


def _sharp() -> pd.DataFrame:
    return simulate("threshold", n_users=1_500, seed=7).data


def _fuzzy() -> pd.DataFrame:
    return simulate("threshold", n_users=1_500, seed=8, fuzzy=True).data


_BASE = {"outcome": "task_completed", "running": "query_confidence", "cutoff": 0.85}

CASES = [
    ContractCase(
        name="rdd_sharp",
        func=rdd,
        data=_sharp,
        kwargs={**_BASE, "treated_side": "below", "covariates": ["prior_success"]},
        outcome="task_completed",
        rel_tol=1e-7,
    ),
    ContractCase(
        name="rdd_fuzzy",
        func=rdd,
        data=_fuzzy,
        kwargs={**_BASE, "treatment": "routed_to_premium", "vce": "hc1", "diagnostics": False},
        outcome="task_completed",
        treatment="routed_to_premium",
        rel_tol=1e-7,
    ),
    ContractCase(
        name="density_test",
        func=density_test,
        data=_sharp,
        kwargs={"running": "query_confidence", "cutoff": 0.85},
        outcome="query_confidence",
        rel_tol=1e-7,
    ),
]
