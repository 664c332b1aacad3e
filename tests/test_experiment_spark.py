"""ab_test on PySpark local mode equals the in-memory path (marker: spark).

Bar (issue 10): estimates and SEs equal to 1e-9 relative; the same kernel runs on per-arm (or
per-cluster) sums that Spark computes, so only the summation order differs. One local session for
the module, small tables. Needs `pip install truelift[spark]` and Java 17.
"""

from __future__ import annotations

import pandas as pd
import pytest

import truelift
from truelift.experiment import ab_test, sample_ratio_mismatch

pytestmark = pytest.mark.spark
pyspark_sql = pytest.importorskip("pyspark.sql")

REL = 1e-9  # same kernel, same statistics: floating-point summation order only


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Spark takes no pandas categoricals: the tier becomes text (in-memory sees the same)."""
    return df.assign(engagement_tier=df["engagement_tier"].astype(str))


@pytest.fixture(scope="module")
def exp7() -> pd.DataFrame:
    return _plain(truelift.simulate("experiment", n_users=3000, seed=7).data)


@pytest.fixture(scope="module")
def saas() -> pd.DataFrame:
    return _plain(truelift.simulate("saas", n_users=10_000, seed=42).data)


def numbers(res) -> list[float]:
    items = [("", res)] if isinstance(res, truelift.Estimate) else list(res)
    return [x for _, e in items for x in (e.estimate, e.std_error, e.details["relative_se"])]


def test_experiment_scenario_on_spark(spark, exp7):
    sdf = spark.createDataFrame(exp7)
    for kw in (
        {"outcome": "active_minutes", "covariates": ["pre_active_minutes"]},
        {"outcome": "active_minutes", "covariates": ["pre_active_minutes"], "adjustment": "cuped"},
        {
            "outcome": ["task_completed", "cost_usd"],
            "ratio": ("tasks_completed", "sessions"),
            "covariates": ["pre_active_minutes", "engagement_tier"],
            "correction": "bh",
        },
        {"outcome": "cost_usd", "winsorize": 0.99},
    ):
        a, b = ab_test(exp7, variant="variant", **kw), ab_test(sdf, variant="variant", **kw)
        assert b.params["engine"] == "pyspark"
        assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    a = ab_test(exp7, outcome="cost_usd", variant="variant")
    b = ab_test(sdf, outcome="cost_usd", variant="variant")
    # Spark's percentile is exact (linear interpolation), as numpy's quantile
    tail_a, tail_b = a.diagnostic("heavy tails"), b.diagnostic("heavy tails")
    assert tail_b.details["cap"] == pytest.approx(tail_a.details["cap"], rel=REL)
    assert tail_b.verdict == tail_a.verdict


def test_saas_and_clusters_on_spark(spark, saas):
    kw = {
        "outcome": "task_completed",
        "variant": "prompt_variant",
        "covariates": ["engagement_tier", "query_confidence"],
    }
    sdf = spark.createDataFrame(saas)
    assert numbers(ab_test(sdf, **kw)) == pytest.approx(numbers(ab_test(saas, **kw)), rel=REL)
    ws = _plain(
        truelift.simulate("experiment", n_users=3000, seed=12, randomization="workspace").data
    )
    kw = {"ratio": ("tasks_completed", "sessions"), "variant": "variant", "cluster": "workspace_id"}
    b = ab_test(spark.createDataFrame(ws), **kw)
    assert numbers(b) == pytest.approx(numbers(ab_test(ws, **kw)), rel=REL)
    assert "per-cluster" in b.details["transferred"]
    srm_a = sample_ratio_mismatch(ws, variant="variant")
    srm_b = sample_ratio_mismatch(spark.createDataFrame(ws), variant="variant")
    assert srm_b.details["counts"] == srm_a.details["counts"]


def test_hostile_names_on_spark(spark, exp7):
    names = {
        "variant": "v`; DROP TABLE x; --",
        "active_minutes": "y') OR 1=1",
        "pre_active_minutes": "a.b",
    }
    sdf = spark.createDataFrame(exp7.rename(columns=names))
    got = ab_test(
        sdf,
        outcome=names["active_minutes"],
        variant=names["variant"],
        covariates=[names["pre_active_minutes"]],
    )
    ref = ab_test(
        exp7, outcome="active_minutes", variant="variant", covariates=["pre_active_minutes"]
    )
    assert (got.estimate, got.std_error) == pytest.approx((ref.estimate, ref.std_error), rel=REL)
