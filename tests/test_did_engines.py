"""DiD on lazy tables: the engine feed of each kernel equals the in-memory feed.

Bar (issue 10): every estimate, SE, interval bound and p-value of the engine path equals the
in-memory path to 1e-9 relative, on DuckDB and polars lazy frames (pandas is the in-memory
reference; Spark: tests/test_did_engines_spark.py). Same kernels, same statistics; only the
floating-point summation order differs (and, on unbalanced panels, the 1e-10 convergence
tolerance of the in-memory alternating projections), hence 1e-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift.did import did, did_2x2, event_study, twfe

duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")

REL = 1e-9
HOSTILE = 'y"; DROP TABLE t; --'
PANEL = dict(outcome="tasks", unit="user_id", time="week")


def _numbers(res):
    items = list(res) if isinstance(res, truelift.EstimateSet) else [("", res)]
    return np.array([x for _, e in items for x in (e.estimate, e.std_error, e.ci_low, e.p_value)])


def _lazy(df, engine):
    return duckdb.connect().from_df(df) if engine == "duckdb" else pl.from_pandas(df).lazy()


@pytest.fixture(scope="module")
def rollout() -> pd.DataFrame:
    return truelift.simulate("rollout", n_users=1_500, seed=7, pretrend=0.03).data.drop(
        columns=["tier"]
    )


@pytest.fixture(scope="module")
def saas() -> pd.DataFrame:
    d = truelift.simulate("saas", n_users=20_000, seed=42).data
    d = d[d["signup_week"] < 30].copy()
    d["post"] = (d["signup_week"] >= 20).astype(int)
    d["treated"] = (d["wave"] == 1).astype(int)
    d["d"] = d["treated"] * d["post"]
    return d[["workspace_id", "signup_week", "post", "treated", "d", "task_completed"]]


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_did_2x2(saas, engine):
    for cl in (None, "workspace_id"):
        kw = dict(outcome="task_completed", treated="treated", post="post", cluster=cl)
        a, b = did_2x2(saas, **kw), did_2x2(_lazy(saas, engine), **kw)
        assert b.params["engine"] == engine and a.params["engine"] == "in-memory"
        assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)
        assert b.details["cell_n"] == a.details["cell_n"] and "transferred" in b.details


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_twfe(rollout, saas, engine):
    cases = [
        (rollout, dict(**PANEL, treatment="treated")),
        (rollout, dict(**PANEL, treatment="treated", cluster="workspace_id", fe_dof="nested")),
        # unbalanced, many rows per (workspace, week) cell: the iterative in-memory demeaning
        (saas, dict(outcome="task_completed", unit="workspace_id", time="signup_week",
                    treatment="d")),
    ]  # fmt: skip
    for df, kw in cases:
        a, b = twfe(df, **kw), twfe(_lazy(df, engine), **kw)
        assert b.params["engine"] == engine
        assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)
        assert b.diagnostics[1].value == pytest.approx(a.diagnostics[1].value, abs=1e-12)
        ga, gb = a.details["group_means"], b.details["group_means"]
        assert gb["cohorts"] == ga["cohorts"]
        np.testing.assert_allclose(gb["means"], ga["means"], rtol=REL)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"leads": 3, "lags": 3, "endpoints": "drop", "cluster": "workspace_id"},
    ],
)
def test_event_study(rollout, engine, kw):
    a = event_study(rollout, **PANEL, cohort="cohort", **kw)
    b = event_study(_lazy(rollout, engine), **PANEL, cohort="cohort", **kw)
    assert b.params["engine"] == engine and a.labels == b.labels
    assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)
    assert b.diagnostics[0].value == pytest.approx(a.diagnostics[0].value, rel=REL)
    np.testing.assert_allclose(
        np.array(b.details["group_means"]["counterfactual"], float),
        np.array(a.details["group_means"]["counterfactual"], float),
        rtol=REL,
    )


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize(
    "kw",
    [
        {"aggregation": "simple"},
        {"aggregation": "dynamic", "base_period": "universal", "anticipation": 1},
        {"aggregation": "group", "control": "notyet"},
        {"aggregation": "calendar", "cluster": "workspace_id"},
    ],
)
def test_callaway_santanna(rollout, engine, kw):
    a = did(rollout, **PANEL, cohort="cohort", **kw)
    b = did(_lazy(rollout, engine), **PANEL, cohort="cohort", **kw)
    assert b.params["engine"] == engine and a.labels == b.labels
    assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)
    assert b.diagnostics[0].value == pytest.approx(a.diagnostics[0].value, rel=REL)
    assert "per cohort" in b.details["transferred"]


def test_hostile_column_name(rollout):
    df = rollout.rename(columns={"tasks": HOSTILE, "cohort": "c'oh\\ort"})
    kw = dict(outcome=HOSTILE, unit="user_id", time="week")
    rel = duckdb.connect().from_df(df)
    a = did(rollout, **PANEL, cohort="cohort")
    b = did(rel, **kw, cohort="c'oh\\ort")
    assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)
    e = twfe(rel, **kw, treatment="treated")
    assert e.estimate == pytest.approx(
        twfe(rollout, **PANEL, treatment="treated").estimate, rel=REL
    )
    assert duckdb.sql("select 1").fetchall() == [(1,)]  # the connection still answers


def test_rows_are_collected_only_when_needed_and_said(rollout):
    rel = duckdb.connect().from_df(rollout)
    b = did(rel, **PANEL, cohort="cohort", bands=True, rng=1)
    assert b.params["engine"].startswith("duckdb (rows collected: uniform bands")
    w = twfe(rel, **PANEL, treatment="treated", wild_bootstrap=True, rng=1)
    assert "rows collected: the wild bootstrap" in w.params["engine"]


def test_engine_errors(rollout):
    bad = rollout.assign(cohort=np.where(rollout.week == 5, 6, rollout.cohort))
    with pytest.raises(truelift.DataError, match="absorbing"):
        did(duckdb.connect().from_df(bad), **PANEL, cohort="cohort")
    with pytest.raises(truelift.IdentificationError, match="notyet"):
        did(duckdb.connect().from_df(rollout[rollout.cohort > 0]), **PANEL, cohort="cohort")
    with pytest.raises(truelift.ColumnNotFoundError, match="Did you mean"):
        twfe(duckdb.connect().from_df(rollout), **{**PANEL, "outcome": "task"}, treatment="treated")
    missing = rollout.assign(tasks=rollout.tasks.where(rollout.week != 3))
    with pytest.raises(truelift.MissingValueError):
        did_2x2(pl.from_pandas(missing).lazy(), outcome="tasks", treated="treated", post="week")
