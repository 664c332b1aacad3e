"""The engine path on PySpark local mode equals the in-memory path (marker: spark).

Bar: estimate and SE equal to the in-memory path to 1e-9 relative (one kernel over the same
per-arm sums; only summation order differs). Needs `pip install truelift[spark]` and Java.
"""

from __future__ import annotations

import pytest

import truelift

pytestmark = pytest.mark.spark
pyspark_sql = pytest.importorskip("pyspark.sql")

REL = 1e-9  # same kernel, same statistics: floating-point summation order only


@pytest.fixture(scope="module")
def table():
    d = truelift.simulate("saas", n_users=20_000, seed=5).data
    return d.assign(engagement_tier=d["engagement_tier"].astype(str))


def test_naive_difference_on_spark(spark, table):
    expected = truelift.naive_difference(
        table, treatment="opt_in_agent_mode", outcome="task_completed"
    )
    got = truelift.naive_difference(
        spark.createDataFrame(table), treatment="opt_in_agent_mode", outcome="task_completed"
    )
    assert got.estimate == pytest.approx(expected.estimate, rel=REL)
    assert got.std_error == pytest.approx(expected.std_error, rel=REL)
    assert got.params["engine"] == "pyspark"


def test_hostile_names_on_spark(spark, table):
    renamed = table.rename(
        columns={"opt_in_agent_mode": "t`; DROP TABLE x; --", "task_completed": "y') OR 1=1"}
    )
    got = truelift.naive_difference(
        spark.createDataFrame(renamed), treatment="t`; DROP TABLE x; --", outcome="y') OR 1=1"
    )
    expected = truelift.naive_difference(
        table, treatment="opt_in_agent_mode", outcome="task_completed"
    )
    assert got.estimate == pytest.approx(expected.estimate, rel=REL)


def test_read_table_spark_and_detection(spark, table, tmp_path):
    from truelift.engines import native_engine
    from truelift.io import read_table, write_table

    path = write_table(table, tmp_path / "saas.parquet")
    df = read_table(path, engine="spark", spark=spark)
    assert native_engine(df) == "pyspark"
    got = truelift.naive_difference(df, treatment="opt_in_agent_mode", outcome="task_completed")
    expected = truelift.naive_difference(
        table, treatment="opt_in_agent_mode", outcome="task_completed"
    )
    assert got.estimate == pytest.approx(expected.estimate, rel=REL)
    assert got.std_error == pytest.approx(expected.std_error, rel=REL)
    csv = write_table(table, tmp_path / "saas.csv")
    assert read_table(csv, engine="spark", spark=spark).count() == len(table)
