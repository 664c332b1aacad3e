"""Spark Connect: a local Connect server (``remote("local")``) runs the engine path.

Marked ``spark`` and ``slow``: starting the Connect server takes about a minute. Needs the
client packages of ``pyspark[connect]``; without them the test skips and names them.
Bar: equal to the in-memory path to 1e-9 relative (one kernel, same per-arm sums).
"""

from __future__ import annotations

import pytest

import truelift

pytestmark = [pytest.mark.spark, pytest.mark.slow]
pytest.importorskip("pyspark.sql")

from truelift.engines import native_engine  # noqa: E402
from truelift.engines.spark import connect_client_missing, spark_session  # noqa: E402

REL = 1e-9  # same kernel, same statistics: floating-point summation order only


@pytest.fixture(scope="module")
def connect():
    missing = connect_client_missing()
    if missing:
        pytest.skip(f"Spark Connect client packages missing: {', '.join(missing)}")
    session = spark_session(remote="local")
    yield session
    session.stop()


def test_naive_difference_on_spark_connect(connect):
    table = truelift.simulate("saas", n_users=5_000, seed=5).data
    table = table.assign(engagement_tier=table["engagement_tier"].astype(str))
    hostile = table.rename(
        columns={"opt_in_agent_mode": "t`; DROP TABLE x; --", "task_completed": "*"}
    )
    df = connect.createDataFrame(hostile)
    assert native_engine(df) == "spark-connect"
    got = truelift.naive_difference(df, treatment="t`; DROP TABLE x; --", outcome="*")
    want = truelift.naive_difference(table, treatment="opt_in_agent_mode", outcome="task_completed")
    assert got.params["engine"] == "spark-connect"
    assert got.estimate == pytest.approx(want.estimate, rel=REL)
    assert got.std_error == pytest.approx(want.std_error, rel=REL)
