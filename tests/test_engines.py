"""The engine path (aggregation inside DuckDB / polars lazy) equals the in-memory path.

Bar: every engine-path estimate and SE equals the in-memory path to 1e-9 relative (the two paths
share one kernel over the same sufficient statistics; only summation order differs).
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest

import truelift

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
