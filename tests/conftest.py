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


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo report, built once per run by the CLI (``truelift demo``) at 5,000 users.

    Returns the report folder (index.html, index.md, index.json). The CLI and browser tests
    share it: building it is the slowest step of the suite.
    """
    from typer.testing import CliRunner

    from truelift.cli import app

    folder = tmp_path_factory.mktemp("demo") / "truelift-report"
    out = CliRunner().invoke(app, ["demo", "--out", str(folder), "--n-users", "5000"])
    assert out.exit_code == 0, out.stdout
    (folder / "stdout.txt").write_text(out.stdout, encoding="utf-8")
    return folder
