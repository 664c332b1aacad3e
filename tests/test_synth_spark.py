"""synth() on a PySpark DataFrame (local mode): the unit x period panel is aggregated by Spark.

Bar (issue 10): estimate, SE and every gap equal to the in-memory path to 1e-9 relative (the
same cell means summed in another order; only rounding differs). Marker ``spark``; skipped
without pyspark. One local session for the module, small tables.
"""

from __future__ import annotations

import pandas as pd
import pytest

import truelift
from truelift.synth import synth

pytestmark = pytest.mark.spark
pyspark_sql = pytest.importorskip("pyspark.sql")

REL = 1e-9
COLS = {"outcome": "task_completion", "unit": "product", "time": "week", "treatment": "launched"}


def numbers(est) -> list[float]:
    out = [est.estimate, est.std_error, est.ci_low, est.ci_high, est.p_value]
    return out + list(est.details["weights"].values()) + list(est.details["gap"])


@pytest.fixture(scope="module")
def launch():
    return truelift.simulate("launch", seed=4, n_donors=10, n_pre=10, n_post=4).data


@pytest.mark.parametrize("method", ["sc", "sdid"])
def test_spark_equals_in_memory(spark, launch, method):
    a = synth(launch, **COLS, method=method)
    b = synth(spark.createDataFrame(launch), **COLS, method=method)
    assert b.params["engine"] == "pyspark"
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    assert b.n_obs == a.n_obs
    assert "unit x period panel: 154 rows" in b.details["transferred"]


def test_spark_user_rows_and_hostile_names(spark, launch):
    # several rows per product-week (each cell split into two rows around its mean) under
    # column names that would break or inject into a query if parsed
    up = launch.assign(task_completion=launch.task_completion + 0.01)
    down = launch.assign(task_completion=launch.task_completion - 0.01)
    hostile = {"task_completion": "y`; DROP TABLE t; --", "product": "a.b", "week": "*"}
    rows = pd.concat([up, down], ignore_index=True).rename(columns=hostile)
    names = {k: hostile.get(v, v) for k, v in COLS.items()}
    b = synth(spark.createDataFrame(rows), **names, method="demeaned")
    a = synth(launch, **COLS, method="demeaned")
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    assert b.n_obs == 2 * a.n_obs
