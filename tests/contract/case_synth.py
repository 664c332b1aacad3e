"""Contract cases for truelift.synth (synthetic control, synthetic DiD)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.contract import ContractCase
from truelift.synth import synth


def _panel(n_treated: int) -> pd.DataFrame:
    """21 products x 12 weeks, time-major rows (so every 7th row is always the same 3 donors)."""
    rng = np.random.default_rng(0)
    n, t, t0 = 21, 12, 8
    f = np.cumsum(rng.normal(0, 0.3, t))
    Y = rng.uniform(1, 3, (n, 1)) + rng.uniform(0.5, 1.5, (n, 1)) * f + rng.normal(0, 0.1, (n, t))
    treated = np.zeros(n, dtype=bool)
    treated[[3, 4][:n_treated]] = True
    Y[treated, t0:] += 0.5
    d = (treated[:, None] & (np.arange(t)[None, :] >= t0)).astype(int)
    return pd.DataFrame(
        {
            "product": np.tile([f"p{i:02d}" for i in range(n)], t),
            "week": np.repeat(np.arange(t), n),
            "y": Y.T.ravel(),
            "launched": d.T.ravel(),
        }
    )


CASES = [
    ContractCase(
        name="synth_sc_placebo",
        func=synth,
        data=lambda: _panel(1),
        kwargs={"outcome": "y", "unit": "product", "time": "week", "treatment": "launched"},
        outcome="y",
        treatment="launched",
    ),
    ContractCase(
        name="synth_sdid_jackknife",
        func=synth,
        data=lambda: _panel(2),
        kwargs={
            "outcome": "y",
            "unit": "product",
            "time": "week",
            "treatment": "launched",
            "method": "sdid",
            "inference": "jackknife",
        },
        outcome="y",
        treatment="launched",
        rel_tol=1e-7,
    ),
]
