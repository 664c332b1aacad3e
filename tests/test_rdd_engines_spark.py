"""RD on PySpark local mode: the engine sums equal the in-memory path (marker: spark).

Bar (issue 10): estimates and SEs equal to the in-memory path to 1e-9 relative (one kernel over
the same kernel-weighted power sums; only the order of floating-point additions differs). Small
data (the parity data sets of tests/reference/rdd_datasets.py, 2,500 rows) and one local session
for the module. Needs `pip install truelift[spark]` and Java 17.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.reference import rdd_datasets as ds
from truelift.rdd import rdd

pytestmark = pytest.mark.spark
pyspark_sql = pytest.importorskip("pyspark.sql")

REL = 1e-9  # same kernel, same sums: summation order only
KW = {"outcome": "y", "running": "x", "cutoff": 0.0, "diagnostics": False}


def numbers(e) -> list[float]:  # type: ignore[no-untyped-def]
    p = e.params
    return [
        e.estimate,
        e.std_error,
        e.ci_low,
        e.ci_high,
        p["se_conventional"],
        p["estimate_bias_corrected"],
        p["h_left"],
        p["h_right"],
        p["b_left"],
        p["b_right"],
    ]


def counts(e) -> list[int]:  # type: ignore[no-untyped-def]
    p = e.params
    return [p[k] for k in ("n_effective_left", "n_effective_right", "n_bias_left", "n_bias_right")]


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("linear", {"vce": "hc1"}),  # MSE-optimal bandwidth chosen from engine sums
        ("linear", {"vce": "hc0", "bandwidth": 0.3, "b": 0.5}),
        ("clustered", {"cluster": "cl", "bandwidth": 0.4}),  # CR1
        ("fuzzy", {"treatment": "t", "covariates": ["z1"], "cluster": "cl", "bandwidth": 0.5}),
    ],
    ids=["hc1-mserd", "hc0-fixed", "cr1-fixed", "fuzzy-covs-cr1"],
)
def test_spark_equals_in_memory(spark, name: str, kw: dict) -> None:
    df = pd.DataFrame(ds.make(name))
    a = rdd(df, **KW, **kw)
    b = rdd(spark.createDataFrame(df), **KW, **kw)
    assert b.params["engine"] == "pyspark"
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    assert counts(b) == counts(a)
    assert "kernel window" not in b.details["transferred"]  # sums only


def test_spark_hostile_column_names(spark) -> None:
    df = pd.DataFrame(ds.make("clustered"))
    evil = {"y": "y`; DROP TABLE x; --", "x": "x') OR 1=1", "cl": "c.l"}
    a = rdd(df, **KW, cluster="cl", bandwidth=0.4)
    b = rdd(
        spark.createDataFrame(df.rename(columns=evil)),
        outcome=evil["y"],
        running=evil["x"],
        cutoff=0.0,
        cluster=evil["cl"],
        bandwidth=0.4,
        diagnostics=False,
    )
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
