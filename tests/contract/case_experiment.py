"""Contract cases for the experiment design (ab_test in its main modes, sequential, switchback)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.contract import ContractCase
from truelift.experiment import ab_test, sequential_test, switchback

LABELS = "variant may hold any labels ('control' is recognised as the control arm)"
THIRD_ARM = "a third variant value is a third arm, not an error (multi-arm test)"


def _ab() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    t = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    sessions = 1 + rng.poisson(3, n)
    return pd.DataFrame(
        {
            "t": t,
            "y": 1.0 + 0.4 * t + x + rng.normal(size=n),
            "x": x,
            "clicks": rng.binomial(sessions, 0.3 + 0.05 * t),
            "sessions": sessions,
            "arm3": rng.choice(["control", "B", "C"], n),
        }
    )


def _clustered() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n, G = 800, 40
    g = rng.integers(0, G, n)
    t = rng.integers(0, 2, G)[g]
    return pd.DataFrame(
        {"t": t, "g": g, "y": 0.3 * t + rng.normal(0, 0.5, G)[g] + rng.normal(size=n)}
    )


def _switchback() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    T, per = 120, 8
    w = rng.integers(0, 2, T)
    slot = np.repeat(np.arange(T), per)
    lag = np.r_[0, w[:-1]][slot]
    y = 0.5 * w[slot] + 0.2 * lag + rng.normal(size=T * per)
    return pd.DataFrame({"slot": slot, "t": w[slot], "y": y})


CASES = [
    ContractCase(
        name="ab_test_mean",
        func=ab_test,
        data=_ab,
        kwargs={"outcome": "y", "variant": "t"},
        outcome="y",
        treatment="t",
        skip={"treatment_string": LABELS, "treatment_non_binary": THIRD_ARM},
    ),
    ContractCase(
        name="ab_test_lin",
        func=ab_test,
        data=_ab,
        kwargs={"outcome": "y", "variant": "t", "covariates": ["x"]},
        outcome="y",
        treatment="t",
        skip={"treatment_string": LABELS, "treatment_non_binary": THIRD_ARM},
    ),
    ContractCase(
        name="ab_test_ratio_and_mean",
        func=ab_test,
        data=_ab,
        kwargs={"outcome": "y", "ratio": ("clicks", "sessions"), "variant": "t"},
        outcome="y",
        treatment="t",
        skip={"treatment_string": LABELS, "treatment_non_binary": THIRD_ARM},
    ),
    ContractCase(
        name="ab_test_multi_arm_holm",
        func=ab_test,
        data=_ab,
        kwargs={"outcome": "y", "variant": "arm3", "correction": "holm"},
        outcome="y",
    ),
    ContractCase(
        name="ab_test_cluster",
        func=ab_test,
        data=_clustered,
        kwargs={"outcome": "y", "variant": "t", "cluster": "g"},
        outcome="y",
        treatment="t",
        skip={
            "treatment_string": LABELS,
            "treatment_non_binary": "relabelling rows breaks the cluster design (typed error "
            "tested in test_experiment.py)",
        },
    ),
    ContractCase(
        name="sequential_test",
        func=sequential_test,
        data=_ab,
        kwargs={"outcome": "y", "variant": "t", "looks": 5},
        outcome="y",
        treatment="t",
        skip={"treatment_string": LABELS},
    ),
    ContractCase(
        name="switchback",
        func=switchback,
        data=_switchback,
        kwargs={"outcome": "y", "treatment": "t", "time": "slot"},
        outcome="y",
        treatment="t",
    ),
]
