"""Uplift entry points on a PySpark DataFrame (marker: spark): rows collected and recorded.

Spark does not promise row order on collect, so the checks here are order-invariant: the policy
value without covariates is a mean of per-user scores (equal to the in-memory path up to
summation order, 1e-12 relative), the Qini coefficient of an untied score is a function of the
set of rows; the learners' record says which engine ran and how many rows left it.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

import truelift
from truelift.uplift import evaluate_uplift, heterogeneity_test, policy_value

pytestmark = pytest.mark.spark
pyspark_sql = pytest.importorskip("pyspark.sql")

KW = {"treatment": "agent_mode", "outcome": "task_completed"}
N = 2000


@pytest.fixture(scope="module")
def table():
    d = truelift.simulate("hetero", n_users=N, seed=3).data
    score = d["true_cate"] + 1e-9 * np.arange(N)  # untied: the ranking is order-free
    return d.assign(engagement_tier=d["engagement_tier"].astype(str), score=score)


@pytest.fixture(scope="module")
def sdf(spark, table):
    cols = ["agent_mode", "task_completed", "oracle_policy", "score", "engagement_tier"]
    cols += ["query_confidence", "tenure_weeks", "propensity"]
    return spark.createDataFrame(table[cols])


def test_policy_value_and_qini_on_spark_equal_the_in_memory_path(table, sdf):
    pv_kw = dict(KW, policy="oracle_policy", propensity=0.5, cost=0.015, value=0.5)
    eager, got = policy_value(table, **pv_kw), policy_value(sdf, **pv_kw)
    assert got["policy"].estimate == pytest.approx(eager["policy"].estimate, rel=1e-12)
    assert got["policy"].std_error == pytest.approx(eager["policy"].std_error, rel=1e-12)
    assert got.params["engine"] == f"pyspark (rows collected: {N:,})"
    ev_kw = dict(KW, score="score", n_boot=20, rng=0)
    q_eager, q_got = evaluate_uplift(table, **ev_kw), evaluate_uplift(sdf, **ev_kw)
    assert q_got["qini"].estimate == pytest.approx(q_eager["qini"].estimate, rel=1e-12)
    assert q_got.details["collected"]["columns"] == ["agent_mode", "task_completed", "score"]


def test_heterogeneity_test_on_spark_records_the_collection_and_samples_when_told(sdf):
    res = heterogeneity_test(
        sdf,
        **KW,
        covariates=["engagement_tier", "query_confidence", "tenure_weeks"],
        propensity=0.5,
        model=HistGradientBoostingRegressor(max_iter=10, random_state=0),
        n_folds=2,
        rng=0,
        sample=500,
    )
    rec = res.details["collected"]
    assert rec["engine"] == "pyspark" and rec["rows_collected"] == N
    assert rec["sample"]["rows"] == 500 and res["ATE"].n_obs == 500
