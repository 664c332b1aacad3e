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


# The designs whose sufficient statistics are computed in the engine (issue: warehouse scale),
# each on a Spark Connect DataFrame with hostile column names, against the in-memory call on the
# original names: the same cases as the DuckDB hostile-name file.
CONNECT_DESIGNS = [
    "ab_test",
    "aipw",
    "did",
    "did_2x2",
    "event_study",
    "ipw",
    "iv",
    "power_inputs",
    "propensity_score",
    "sample_ratio_mismatch",
    "synth",
    "twfe",
]


@pytest.mark.parametrize("name", CONNECT_DESIGNS)
def test_design_on_spark_connect(connect, name):
    from tests.test_engines_hostile import CASES, HOSTILE, _columns, _figures, _rename

    case = CASES[name]
    df = truelift.simulate(case.scenario, **{"n_users": 2_000, "seed": 3, **case.sim}).data
    if case.prepare is not None:
        df = case.prepare(df)
    df = df.reset_index(drop=True)
    cols = _columns(case.kwargs)
    names = dict(zip(cols, HOSTILE, strict=False))
    fn = getattr(truelift, name)
    got = fn(
        connect.createDataFrame(df.rename(columns=names)),
        **{k: _rename(v, names) for k, v in case.kwargs.items()},
        **case.options,
    )
    want = fn(df, **case.kwargs, **case.options)
    first = got if isinstance(got, truelift.Estimate) else None
    if first is not None:
        assert first.params["engine"] == "spark-connect"
    assert _figures(got) == pytest.approx(_figures(want), rel=REL, abs=1e-12, nan_ok=True)
