"""read_table: lazy DuckDB relations by default, pandas on request, typed errors."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import truelift
from truelift.io import read_table, write_table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return truelift.simulate("saas", n_users=2_000, seed=3).data


@pytest.fixture(scope="module", params=["csv", "parquet"])
def path(request, table, tmp_path_factory):
    return write_table(table, tmp_path_factory.mktemp("io") / f"saas.{request.param}")


def test_default_is_a_lazy_duckdb_relation(path, table):
    rel = read_table(path)
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    assert rel.columns == list(table.columns)
    assert rel.shape == table.shape
    got = truelift.naive_difference(rel, treatment="opt_in_agent_mode", outcome="task_completed")
    want = truelift.naive_difference(table, treatment="opt_in_agent_mode", outcome="task_completed")
    assert got.params["engine"] == "duckdb"
    # one kernel over the same per-arm sums: summation order only
    assert got.estimate == pytest.approx(want.estimate, rel=1e-9)
    assert got.std_error == pytest.approx(want.std_error, rel=1e-9)


def test_memory_engine_returns_the_rows(path, table):
    back = read_table(path, engine="memory")
    assert isinstance(back, pd.DataFrame) and back.shape == table.shape
    pd.testing.assert_series_equal(
        back["task_completed"], table["task_completed"], check_dtype=False
    )
    pd.testing.assert_series_equal(
        back["query_confidence"], table["query_confidence"], check_dtype=False
    )


def test_connection_and_glob(table, tmp_path):
    for i in range(3):
        write_table(table.iloc[i::3], tmp_path / f"part{i}.parquet")
    con = duckdb.connect()
    rel = read_table(tmp_path / "*.parquet", connection=con)
    assert rel.shape[0] == len(table)
    assert con.sql("select 1").fetchall() == [(1,)]  # the caller's connection still works


def test_quoted_path(table, tmp_path):
    odd = tmp_path / "it's a 'file'.parquet"
    write_table(table, odd)
    assert read_table(odd).shape == table.shape


def test_errors(tmp_path):
    with pytest.raises(truelift.DataError, match="does not exist"):
        read_table(tmp_path / "nope.parquet")
    (tmp_path / "x.txt").write_text("a\n1\n")
    with pytest.raises(truelift.DataError, match="extension"):
        read_table(tmp_path / "x.txt")
    assert read_table(tmp_path / "x.txt", format="csv").shape == (1, 1)
    with pytest.raises(truelift.DesignError, match="engine must be one of"):
        read_table(tmp_path / "x.txt", engine="pandas", format="csv")  # type: ignore[arg-type]
    with pytest.raises(truelift.DesignError, match="format must be"):
        read_table(tmp_path / "x.txt", format="json")  # type: ignore[arg-type]


def test_spark_remote_without_client_says_what_is_missing(monkeypatch, tmp_path):
    pytest.importorskip("pyspark.sql")
    from truelift.engines import spark as spark_mod

    monkeypatch.setattr(spark_mod, "connect_client_missing", lambda: ["grpcio", "zstandard"])
    path = tmp_path / "t.parquet"
    write_table(pd.DataFrame({"a": [1.0]}), path)
    with pytest.raises(truelift.DataError, match=r"grpcio, zstandard.*pyspark\[connect\]"):
        read_table(path, engine="spark", spark_remote="sc://localhost:15002")
    monkeypatch.setenv("SPARK_REMOTE", "sc://localhost:15002")
    with pytest.raises(truelift.DataError, match="SPARK_REMOTE"):
        read_table(path, engine="spark")
