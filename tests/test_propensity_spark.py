"""Propensity designs on PySpark local mode: the engine path equals the in-memory path.

Bar (issue 10): estimate and SE equal to the in-memory path to 1e-9 relative (the same Newton loop
and IPW/AIPW kernels fed with Spark aggregations instead of numpy sums; only the summation order
differs). Needs `pip install truelift[spark]` and Java; one local session for the module.
"""

from __future__ import annotations

import pandas as pd
import pytest

import truelift
from truelift.propensity import aipw, ipw, propensity_score

pytestmark = pytest.mark.spark
pyspark_sql = pytest.importorskip("pyspark.sql")

REL = 1e-9  # same kernel, same sums: floating-point summation order only
OPTIN = {
    "treatment": "agent_mode",
    "outcome": "task_completed",
    "covariates": ["engagement_tier", "plan", "log_tenure", "prior_tasks"],
}
SAAS = {
    "treatment": "opt_in_agent_mode",
    "outcome": "task_completed",
    "covariates": ["engagement_tier", "query_confidence"],
}


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Spark takes strings, not pandas categoricals."""
    return df.assign(**{c: df[c].astype(str) for c in df if df[c].dtype.name == "category"})


@pytest.fixture(scope="module")
def optin() -> pd.DataFrame:
    return _plain(truelift.simulate("optin", n_users=4_000, seed=3).data)


@pytest.fixture(scope="module")
def saas() -> pd.DataFrame:
    return _plain(truelift.simulate("saas", n_users=4_000, seed=5).data)


def test_ipw_and_aipw_on_spark(spark, optin):
    sdf = spark.createDataFrame(optin)
    for fn, opts in (
        (ipw, {"estimand": "ATE"}),
        (ipw, {"estimand": "ATT", "cluster": "workspace_id", "trim": 0.02}),
        (aipw, {"estimand": "ATE"}),
    ):
        a, b = fn(optin, **OPTIN, **opts), fn(sdf, **OPTIN, **opts)
        assert b.params["engine"] == "pyspark"
        assert b.estimate == pytest.approx(a.estimate, rel=REL)
        assert b.std_error == pytest.approx(a.std_error, rel=REL)
        assert b.details["propensity"]["auc"] == pytest.approx(
            a.details["propensity"]["auc"], rel=REL
        )
        assert [d.verdict for d in b.diagnostics] == [d.verdict for d in a.diagnostics]


def test_propensity_score_on_spark(spark, saas):
    a = propensity_score(saas, treatment=SAAS["treatment"], covariates=SAAS["covariates"])
    b = propensity_score(
        spark.createDataFrame(saas), treatment=SAAS["treatment"], covariates=SAAS["covariates"]
    )
    assert b.engine == "pyspark" and b.scores is None
    assert list(b.coef.values()) == pytest.approx(list(a.coef.values()), rel=REL)


def test_hostile_names_on_spark(spark, saas):
    names = {
        "opt_in_agent_mode": "t`; DROP TABLE x; --",
        "task_completed": "y') OR 1=1",
        "engagement_tier": "tier.level",
        "query_confidence": "`conf` *",
    }
    hostile = saas[list(names)].rename(columns=names)
    got = ipw(
        spark.createDataFrame(hostile),
        treatment=names["opt_in_agent_mode"],
        outcome=names["task_completed"],
        covariates=[names["engagement_tier"], names["query_confidence"]],
    )
    expected = ipw(saas, **SAAS)
    assert got.estimate == pytest.approx(expected.estimate, rel=REL)
    assert got.std_error == pytest.approx(expected.std_error, rel=REL)
