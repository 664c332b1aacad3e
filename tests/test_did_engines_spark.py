"""DiD on PySpark local mode equals the in-memory path (marker: spark).

Bar (issue 10): estimates, SEs, interval bounds and p-values equal to 1e-9 relative (same
kernels over the same sums; only summation order differs). Small data, one session.
"""

from __future__ import annotations

import numpy as np
import pytest

import truelift
from truelift.did import did, did_2x2, event_study, twfe

pytestmark = pytest.mark.spark
pyspark_sql = pytest.importorskip("pyspark.sql")

REL = 1e-9
PANEL = dict(outcome="tasks", unit="user_id", time="week")
HOSTILE = "t`; DROP TABLE x; --"


@pytest.fixture(scope="module")
def rollout():
    return truelift.simulate("rollout", n_users=400, seed=7).data.drop(columns=["tier"])


@pytest.fixture(scope="module")
def saas():
    d = truelift.simulate("saas", n_users=5_000, seed=42).data
    d = d[d["signup_week"] < 30].copy()
    d["post"] = (d["signup_week"] >= 20).astype(int)
    d["treated"] = (d["wave"] == 1).astype(int)
    return d[["workspace_id", "post", "treated", "task_completed"]]


def _numbers(res):
    items = list(res) if isinstance(res, truelift.EstimateSet) else [("", res)]
    return np.array([x for _, e in items for x in (e.estimate, e.std_error, e.ci_low, e.p_value)])


def test_did_2x2_on_spark(spark, saas):
    kw = dict(outcome="task_completed", treated="treated", post="post", cluster="workspace_id")
    a, b = did_2x2(saas, **kw), did_2x2(spark.createDataFrame(saas), **kw)
    assert b.params["engine"] == "pyspark"
    assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)


def test_twfe_event_study_did_on_spark(spark, rollout):
    sdf = spark.createDataFrame(rollout)
    kw = dict(**PANEL, cluster="workspace_id")
    pairs = [
        (twfe(rollout, **kw, treatment="treated"), twfe(sdf, **kw, treatment="treated")),
        (event_study(rollout, **PANEL, cohort="cohort"), event_study(sdf, **PANEL, cohort="cohort")),
        (did(rollout, **PANEL, cohort="cohort", aggregation="dynamic"),
         did(sdf, **PANEL, cohort="cohort", aggregation="dynamic")),
        (did(rollout, **kw, cohort="cohort"), did(sdf, **kw, cohort="cohort")),
    ]  # fmt: skip
    for a, b in pairs:
        assert b.params["engine"] == "pyspark"
        assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)


def test_hostile_names_on_spark(spark, rollout):
    df = rollout.rename(columns={"tasks": HOSTILE, "cohort": "c.o`h"})
    b = did(spark.createDataFrame(df), outcome=HOSTILE, unit="user_id", time="week", cohort="c.o`h")
    a = did(rollout, **PANEL, cohort="cohort")
    assert _numbers(b) == pytest.approx(_numbers(a), rel=REL)
