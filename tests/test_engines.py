"""The engine path (aggregation inside DuckDB / polars lazy) equals the in-memory path.

Bar: every engine-path estimate and SE equals the in-memory path to 1e-9 relative (the two paths
share one kernel over the same sufficient statistics; only summation order differs).
"""

from __future__ import annotations

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import polars as pl
import pytest

import truelift
from truelift.engines import native_engine, with_safe_names

REL = 1e-9  # same kernel, same statistics: floating-point summation order only


@pytest.fixture(scope="module")
def table():
    return truelift.simulate("saas", n_users=20_000, seed=5).data


def _engines(df):
    con = duckdb.connect()
    con.register("t", df)
    yield "duckdb", con.sql("select * from t")
    yield "polars-lazy", pl.from_pandas(df).lazy()


@pytest.mark.parametrize("treatment", ["opt_in_agent_mode", "prompt_variant"])
def test_naive_difference_engine_parity(table, treatment):
    expected = truelift.naive_difference(table, treatment=treatment, outcome="task_completed")
    for name, lazy in _engines(table):
        got = truelift.naive_difference(lazy, treatment=treatment, outcome="task_completed")
        assert got.estimate == pytest.approx(expected.estimate, rel=REL), name
        assert got.std_error == pytest.approx(expected.std_error, rel=REL), name
        assert got.n_obs == expected.n_obs
        assert got.params["engine"] in ("duckdb", "polars")
        assert "2 rows" in got.details["transferred"]


def test_hostile_names_are_identifiers_not_sql(table):
    hostile = table.rename(
        columns={"opt_in_agent_mode": 'x"; DROP TABLE t; --', "task_completed": "y') OR 1=1 --"}
    )
    con = duckdb.connect()
    con.register("t", hostile)
    rel = con.sql("select * from t")
    got = truelift.naive_difference(rel, treatment='x"; DROP TABLE t; --', outcome="y') OR 1=1 --")
    expected = truelift.naive_difference(
        table, treatment="opt_in_agent_mode", outcome="task_completed"
    )
    assert got.estimate == pytest.approx(expected.estimate, rel=REL)
    assert con.sql("select count(*) from t").fetchall()[0][0] == len(table)  # table intact


def test_engine_path_checks(table):
    con = duckdb.connect()
    bad = table.assign(task_completed=table["task_completed"].astype(float))
    bad.loc[::10, "task_completed"] = np.nan
    con.register("bad", bad)
    rel = con.sql("select * from bad")
    with pytest.raises(truelift.MissingValueError):
        truelift.naive_difference(rel, treatment="opt_in_agent_mode", outcome="task_completed")
    with pytest.warns(truelift.MissingDataWarning):
        got = truelift.naive_difference(
            rel, treatment="opt_in_agent_mode", outcome="task_completed", missing="drop"
        )
    assert got.n_dropped == int(bad["task_completed"].isna().sum())
    with pytest.raises(truelift.ColumnNotFoundError, match="Did you mean 'opt_in_agent_mode'"):
        truelift.naive_difference(rel, treatment="opt_in_agent", outcome="task_completed")
    with pytest.raises(truelift.DataError, match="binary"):
        truelift.naive_difference(rel, treatment="workspace_id", outcome="thumbs_up")


def test_native_engine_detection_imports_nothing():
    """Lazy tables are recognised by type; a Spark Connect DataFrame even without its client."""
    con = duckdb.connect()
    assert native_engine(con.sql("select 1 as a")) == "duckdb"
    assert native_engine(pl.LazyFrame({"a": [1]})) == "polars"
    assert native_engine(pl.DataFrame({"a": [1]})) is None  # eager: the in-memory path
    assert native_engine(con) is None
    # Stand-ins named like pyspark's classes (no Spark, no Connect server, no grpc needed)
    connect_df = type("DataFrame", (), {"__module__": "pyspark.sql.connect.dataframe"})
    classic_df = type("DataFrame", (), {"__module__": "pyspark.sql.classic.dataframe"})
    assert native_engine(connect_df()) == "spark-connect"
    assert native_engine(classic_df()) == "pyspark"
    assert native_engine(type("Column", (), {"__module__": "pyspark.sql.column"})()) is None


@pytest.mark.parametrize("backend", ["duckdb", "polars"])
def test_safe_names_rename_by_position(backend):
    """Names that SQL or polars would expand ('*', a regex, a dotted path) stay labels."""
    names = ['a"; DROP TABLE x; --', "*", "^a.*$", "a.b", "select", "with space"]
    df = pd.DataFrame({n: np.arange(4.0) + i for i, n in enumerate(names)})
    native = duckdb.connect().from_df(df) if backend == "duckdb" else pl.from_pandas(df).lazy()
    frame, mapping = with_safe_names(nw.from_native(native))
    assert list(mapping) == names
    assert frame.collect_schema().names() == [f"__c{i}" for i in range(len(names))]
    sums = frame.select(*[nw.col(mapping[n]).sum() for n in names]).collect()
    assert [float(sums[mapping[n]][0]) for n in names] == [6.0 + 4 * i for i in range(len(names))]


def test_star_column_on_duckdb_is_one_column(table):
    """Without positional renaming DuckDB reads a column named '*' as every column."""
    con = duckdb.connect()
    con.register("t", table.rename(columns={"task_completed": "*"}))
    got = truelift.naive_difference(
        con.sql("select * from t"), treatment="opt_in_agent_mode", outcome="*"
    )
    want = truelift.naive_difference(table, treatment="opt_in_agent_mode", outcome="task_completed")
    assert got.estimate == pytest.approx(want.estimate, rel=REL)
