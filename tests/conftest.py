"""Shared fixtures: the simulated SaaS table and the reference data sets (tests/reference/data)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

import truelift

matplotlib.use("Agg")

REFERENCE = Path(__file__).parent / "reference" / "data"


def reference_csv(name: str) -> pd.DataFrame:
    """A reference data set copied from the published sources (see tests/reference/data/README.md)."""
    path = REFERENCE / name
    if not path.exists():
        path = REFERENCE / f"{name}.gz"
    return pd.read_csv(path)


@pytest.fixture(scope="session")
def saas() -> truelift.Simulation:
    """The SaaS table at the published seed and size (seed 42, 50,000 users)."""
    return truelift.simulate("saas", n_users=50_000, seed=42)
