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


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole run (starting the JVM is the slow part).

    Tests that use it carry ``pytest.mark.spark`` and skip without pyspark.
    """
    pyspark_sql = pytest.importorskip("pyspark.sql")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("truelift-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
