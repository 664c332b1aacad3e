"""Contract cases for the difference-in-differences estimators of part B (2x2, TWFE, event study,
Goodman-Bacon decomposition). Data: a small rollout panel (120 users x 10 weeks) and a small
2x2 table; both seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.contract import ContractCase
from truelift.did.bacon import bacon
from truelift.did.event_study import event_study
from truelift.did.twfe import twfe
from truelift.did.two_by_two import did_2x2
from truelift.simulate import simulate


def _panel() -> pd.DataFrame:
    d = simulate("rollout", n_users=120, seed=3).data
    return d.assign(tier=d["tier"].astype(str))


def _two_by_two() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    g, p = rng.binomial(1, 0.5, n), rng.binomial(1, 0.5, n)
    y = 1 + 0.5 * g + 0.3 * p + 0.4 * g * p + rng.normal(size=n)
    return pd.DataFrame(
        {"g": g, "p": p, "y": y, "x": rng.normal(size=n), "ws": rng.integers(0, 40, n)}
    )


PANEL = {"outcome": "tasks", "unit": "user_id", "time": "week"}

CASES = [
    ContractCase(
        name="did_2x2",
        func=did_2x2,
        data=_two_by_two,
        kwargs={"outcome": "y", "treated": "g", "post": "p"},
        outcome="y",
        treatment="g",
    ),
    ContractCase(
        name="did_2x2_covariates_cluster",
        func=did_2x2,
        data=_two_by_two,
        kwargs={"outcome": "y", "treated": "g", "post": "p", "covariates": ["x"], "cluster": "ws"},
        outcome="y",
        treatment="g",
    ),
    ContractCase(
        name="twfe",
        func=twfe,
        data=_panel,
        kwargs={**PANEL, "treatment": "treated"},
        outcome="tasks",
        treatment="treated",
        rel_tol=1e-7,
    ),
    ContractCase(
        name="twfe_wild_bootstrap",
        func=twfe,
        data=_panel,
        kwargs={
            **PANEL,
            "treatment": "treated",
            "cluster": "workspace_id",
            "wild_bootstrap": True,
            "n_boot": 199,
            "rng": 1,
        },
        outcome="tasks",
        treatment="treated",
        rel_tol=1e-7,
    ),
    ContractCase(
        name="event_study",
        func=event_study,
        data=_panel,
        kwargs={**PANEL, "cohort": "cohort"},
        outcome="tasks",
        rel_tol=1e-7,
    ),
    ContractCase(
        name="bacon",
        func=bacon,
        data=_panel,
        kwargs={**PANEL, "treatment": "treated"},
        outcome="tasks",
        treatment="treated",
        rel_tol=1e-7,
        skip={"missing_drop": "dropping rows unbalances the panel, which bacon() rejects"},
    ),
]
