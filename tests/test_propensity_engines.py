"""Propensity designs on lazy tables (DuckDB, polars lazy): the engine path equals in-memory.

Bar (issue 10): on the simulator's tables every engine-path estimate and SE equals the in-memory
path to 1e-9 relative. Both paths run the same Newton loop and the same IPW/AIPW kernels; the
engine path feeds them sums computed by one aggregation each instead of numpy sums, so only the
floating-point summation order (and expit vs 1/(1 + exp(-x)) in the last bit) differs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift.propensity import aipw, ipw, match, propensity_score

duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")

REL = 1e-9  # same kernel, same sums; summation order only
SAAS = {
    "treatment": "opt_in_agent_mode",
    "outcome": "task_completed",
    "covariates": ["engagement_tier", "query_confidence"],
}
OPTIN = {
    "treatment": "agent_mode",
    "outcome": "task_completed",
    "covariates": ["engagement_tier", "plan", "log_tenure", "prior_tasks"],
}


@pytest.fixture(scope="module")
def saas() -> pd.DataFrame:
    return truelift.simulate("saas", n_users=20_000, seed=5).data


@pytest.fixture(scope="module")
def optin() -> pd.DataFrame:
    return truelift.simulate("optin", n_users=8_000, seed=3).data


def _lazy(df: pd.DataFrame, engine: str):
    if engine == "duckdb":
        return duckdb.connect().from_df(df)
    return pl.from_pandas(df).lazy()


def _figures(r: truelift.Estimate) -> list[float]:
    out = [r.estimate, r.std_error, r.ci_low, r.ci_high, r.p_value]
    out += [d.value for d in r.diagnostics if isinstance(d.value, float)]
    out += [r.details["propensity"]["auc"], *r.details["propensity"]["coef"].values()]
    for row in r.details["balance"]:
        out += [row["smd_raw"], row["smd_adj"], row["vr_raw"], row["vr_adj"]]
    return out


CASES = [
    ("saas", {"estimand": "ATE"}),
    ("saas", {"estimand": "ATT"}),
    ("saas", {"estimand": "ATO", "cluster": "workspace_id"}),
    ("optin", {"estimand": "ATE", "trim": 0.05}),
    ("optin", {"estimand": "ATT", "cluster": "workspace_id"}),
]


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize(("table", "opts"), CASES)
def test_ipw_engine_equals_in_memory(saas, optin, engine, table, opts):
    df, kw = (saas, SAAS) if table == "saas" else (optin, OPTIN)
    a = ipw(df, **kw, **opts)
    b = ipw(_lazy(df, engine), **kw, **opts)
    assert a.params["engine"] == "in-memory" and b.params["engine"] == engine
    assert b.estimate == pytest.approx(a.estimate, rel=REL)
    assert b.std_error == pytest.approx(a.std_error, rel=REL)
    assert _figures(b) == pytest.approx(_figures(a), rel=REL, abs=1e-12)
    assert b.details["overlap_hist"] == a.details["overlap_hist"]
    assert b.params["n_trimmed"] == a.params["n_trimmed"] and b.n_obs == a.n_obs
    assert [d.verdict for d in b.diagnostics] == [d.verdict for d in a.diagnostics]
    assert "Newton steps" in b.details["transferred"] and "transferred" not in a.details


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize(
    "opts",
    [
        {"estimand": "ATE"},
        {"estimand": "ATT", "cluster": "workspace_id"},
        {"estimand": "ATE", "outcome_model": "logistic", "trim": 0.05},
    ],
)
def test_aipw_engine_equals_in_memory(optin, engine, opts):
    a = aipw(optin, **OPTIN, **opts)
    b = aipw(_lazy(optin, engine), **OPTIN, **opts)
    assert b.params["engine"] == engine
    assert b.estimate == pytest.approx(a.estimate, rel=REL)
    assert b.std_error == pytest.approx(a.std_error, rel=REL)
    assert b.details["propensity"]["auc"] == pytest.approx(a.details["propensity"]["auc"], rel=REL)


def test_polars_eager_and_pandas_agree(saas):
    a = ipw(saas, **SAAS)
    b = ipw(pl.from_pandas(saas), **SAAS)  # eager polars: the in-memory path
    assert b.params["engine"] == "in-memory"
    assert (b.estimate, b.std_error) == pytest.approx((a.estimate, a.std_error), rel=REL)


def test_propensity_score_on_engine(saas):
    a = propensity_score(saas, treatment=SAAS["treatment"], covariates=SAAS["covariates"])
    b = propensity_score(
        duckdb.connect().from_df(saas), treatment=SAAS["treatment"], covariates=SAAS["covariates"]
    )
    assert b.scores is None and b.engine == "duckdb" and "Newton" in (b.transferred or "")
    assert list(b.coef.values()) == pytest.approx(list(a.coef.values()), rel=REL)
    assert b.auc == pytest.approx(a.auc, rel=REL)
    assert b.score_range == pytest.approx(a.score_range, rel=REL)
    assert [d.verdict for d in b.diagnostics] == [d.verdict for d in a.diagnostics]


def test_missing_values_on_engine(optin):
    df = optin.copy()
    df.loc[df.index[:40], "log_tenure"] = np.nan
    df.loc[df.index[30:50], "plan"] = None
    rel = duckdb.connect().from_df(df)
    with pytest.raises(truelift.MissingValueError, match="log_tenure"):
        ipw(rel, **OPTIN)
    with pytest.warns(truelift.MissingDataWarning):
        b = ipw(rel, **OPTIN, missing="drop")
    with pytest.warns(truelift.MissingDataWarning):
        a = ipw(df, **OPTIN, missing="drop")
    assert (b.n_obs, b.n_dropped) == (a.n_obs, a.n_dropped) == (len(df) - 50, 50)
    assert (b.estimate, b.std_error) == pytest.approx((a.estimate, a.std_error), rel=REL)


def test_engine_errors(saas):
    rel = duckdb.connect().from_df(saas)
    with pytest.raises(truelift.ColumnNotFoundError, match="Did you mean"):
        ipw(rel, **{**SAAS, "outcome": "task_complete"})
    with pytest.raises(truelift.DataError, match="binary"):
        ipw(rel, **{**SAAS, "treatment": "wave"})
    with pytest.raises(truelift.DesignError, match="cannot also be a covariate"):
        ipw(rel, **{**SAAS, "covariates": ["opt_in_agent_mode"]})
    sep = saas.assign(
        engagement_tier=np.where(saas.opt_in_agent_mode == 1, "x", saas.engagement_tier)
    )
    with pytest.raises(truelift.SeparationError, match=r"engagement_tier\[x\] \(all treated\)"):
        ipw(duckdb.connect().from_df(sep), **SAAS)


def test_limited_overlap_refused_on_engine():
    s = truelift.simulate("optin", n_users=8_000, seed=2, limited_overlap=True)
    r = ipw(duckdb.connect().from_df(s.data), **OPTIN)
    assert (
        r.status == "withheld" and "estimand='ATT' is identified" in r.diagnostic("overlap").message
    )


def test_collecting_paths_say_so(saas):
    from sklearn.linear_model import LogisticRegression

    rel = duckdb.connect().from_df(saas)
    m = match(rel, **SAAS)
    assert m.params["engine"].startswith("duckdb (rows collected")
    assert "rows" in m.details["transferred"]
    assert m.estimate == match(saas, **SAAS).estimate
    r = ipw(rel, **SAAS, model=LogisticRegression())
    assert "rows collected" in r.params["engine"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = aipw(rel, **SAAS, folds=2, rng=1)
    assert "cross-fitting needs rows" in c.params["engine"]


HOSTILE = {
    "opt_in_agent_mode": 'a"; DROP TABLE t; --',
    "task_completed": "select",
    "engagement_tier": "b'); DROP TABLE t; --",
    "query_confidence": "from.where",
    "workspace_id": "`tick` *",
}


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_hostile_column_names(saas, engine):
    cols = list(HOSTILE)
    hostile = saas[cols].rename(columns=HOSTILE)
    kw = {
        "treatment": HOSTILE["opt_in_agent_mode"],
        "outcome": HOSTILE["task_completed"],
        "covariates": [HOSTILE["engagement_tier"], HOSTILE["query_confidence"]],
        "cluster": HOSTILE["workspace_id"],
    }
    if engine == "duckdb":
        con = duckdb.connect()
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        lazy = con.from_df(hostile)
    else:
        lazy = pl.from_pandas(hostile).lazy()
    a = ipw(saas, **SAAS, cluster="workspace_id")
    b = ipw(lazy, **kw)
    c = aipw(lazy, **{k: v for k, v in kw.items() if k != "cluster"})
    assert (b.estimate, b.std_error) == pytest.approx((a.estimate, a.std_error), rel=REL)
    assert c.estimate == pytest.approx(aipw(saas, **SAAS).estimate, rel=REL)
    if engine == "duckdb":
        assert con.execute("SELECT x FROM t").fetchall() == [(1,)]  # nothing was injected
