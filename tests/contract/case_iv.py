"""Contract cases for instrumental variables (randomized access, voluntary use; 2SLS)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.contract import ContractCase
from truelift.iv import iv
from truelift.simulate import simulate

_MROZ = Path(__file__).parent.parent / "reference" / "data" / "mroz.csv"
_NON_BINARY = "iv accepts a numeric (non-binary) treatment: 2SLS, e.g. years of education"


def _access() -> pd.DataFrame:
    return simulate("access", n_users=2_000, seed=3, always_takers=True).data


def _mroz() -> pd.DataFrame:
    df = pd.read_csv(_MROZ)
    cols = ["lwage", "educ", "motheduc", "fatheduc", "exper", "expersq", "age"]
    return df.loc[df["inlf"] == 1, cols].reset_index(drop=True)


CASES = [
    ContractCase(
        name="iv_access_late",
        func=iv,
        data=_access,
        kwargs={
            "outcome": "tasks_completed",
            "treatment": "used_feature",
            "instrument": "access",
            "covariates": ["engagement_tier", "prior_tasks"],
        },
        outcome="tasks_completed",
        treatment="used_feature",
        skip={"treatment_non_binary": _NON_BINARY},
    ),
    ContractCase(
        name="iv_2sls_two_instruments_clustered",
        func=iv,
        data=_mroz,
        kwargs={
            "outcome": "lwage",
            "treatment": "educ",
            "instrument": ["motheduc", "fatheduc"],
            "covariates": ["exper", "expersq"],
            "cluster": "age",
        },
        outcome="lwage",
        treatment=None,
    ),
]
