"""IV on lazy tables: the one-aggregation engine path equals the in-memory path."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import truelift
from truelift.iv import iv
from truelift.simulate import simulate

duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")

MROZ = Path(__file__).parent / "reference" / "data" / "mroz.csv"
ACCESS = {"outcome": "tasks_completed", "treatment": "used_feature", "instrument": "access"}
EDUC = {"outcome": "lwage", "treatment": "educ", "instrument": "fatheduc"}


def _numbers(res):
    out = []
    for _, e in res:
        out += [e.estimate, e.std_error, e.ci_low, e.ci_high, e.p_value]
    fs = res.details["first_stage"]
    return [*out, fs["F"], fs["F_eff"], *[b for p in res.details["ar_set"] for b in p]]


@pytest.fixture(scope="module")
def access_df() -> pd.DataFrame:
    return simulate("access", n_users=5_000, seed=1, always_takers=True).data


@pytest.fixture(scope="module")
def mroz() -> pd.DataFrame:
    return pd.read_csv(MROZ)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize("vce", ["hc1", "hc0", "classical"])
def test_engine_path_equals_in_memory(access_df, mroz, engine, vce):
    works = mroz[mroz["inlf"] == 1]
    for df, kw in ((access_df, ACCESS), (works, EDUC)):
        lazy = duckdb.connect().from_df(df) if engine == "duckdb" else pl.from_pandas(df).lazy()
        a, b = iv(df, vce=vce, **kw), iv(lazy, vce=vce, **kw)
        assert b.params["engine"] == engine and a.params["engine"] == "in-memory"
        assert a.labels == b.labels
        # the same formulas from Gram sums instead of rows: rounding only (1e-9 relative)
        assert _numbers(b) == pytest.approx(_numbers(a), rel=1e-9)
    arms_a, arms_b = a.details, b.details  # last pair is Mroz (not binary): no arms
    assert "arms" not in arms_a and "arms" not in arms_b


def test_engine_arms_for_access(access_df):
    a = iv(access_df, **ACCESS)
    b = iv(duckdb.connect().from_df(access_df), **ACCESS)
    for arm in ("access", "no access"):
        assert b.details["arms"][arm]["n"] == a.details["arms"][arm]["n"]
        assert b.details["arms"][arm]["take_up"] == pytest.approx(a.details["arms"][arm]["take_up"])


def test_engine_missing_policy(mroz):
    rel = duckdb.connect().from_df(mroz)  # lwage is null for the 325 women not in the labour force
    with pytest.raises(truelift.MissingValueError):
        iv(rel, **EDUC)
    with pytest.warns(truelift.MissingDataWarning):
        res = iv(rel, missing="drop", **EDUC)
    e = res["2SLS"]
    assert (e.n_obs, e.n_dropped) == (428, 325)
    assert e.estimate == pytest.approx(0.0592, abs=5e-5)  # Wooldridge Example 15.1 (4 decimals)


def test_engine_errors(mroz):
    works = mroz[mroz["inlf"] == 1]
    rel = duckdb.connect().from_df(works)
    with pytest.raises(truelift.ColumnNotFoundError, match="Did you mean"):
        iv(rel, outcome="lwag", treatment="educ", instrument="fatheduc")
    with pytest.raises(truelift.DataError, match="constant"):
        iv(duckdb.connect().from_df(works.assign(lwage=1.0)), **EDUC)
    with pytest.raises(truelift.DataError, match="numeric"):
        iv(duckdb.connect().from_df(works.assign(lwage="x")), **EDUC)


def test_lazy_with_covariates_collects_and_says_so(mroz):
    works = mroz[mroz["inlf"] == 1]
    kw = {**EDUC, "instrument": ["motheduc", "fatheduc"], "covariates": ["exper", "expersq"]}
    a = iv(works, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = iv(duckdb.connect().from_df(works), **kw)
    assert "rows collected" in b.params["engine"]
    assert b["2SLS"].estimate == pytest.approx(a["2SLS"].estimate, rel=1e-12)


def test_engine_clustered_equals_in_memory_and_linearmodels(mroz):
    works = mroz[mroz["inlf"] == 1]
    kw = {**EDUC, "cluster": "age"}
    a = iv(works, **kw)
    b = iv(duckdb.connect().from_df(works), **kw)
    assert b.params["engine"] == "duckdb"
    assert _numbers(b) == pytest.approx(_numbers(a), rel=1e-9)
    # linearmodels 7.1 IV2SLS clustered, debiased (tests/reference/iv_reference.json)
    assert b["2SLS"].std_error == pytest.approx(0.038829674279041444, rel=1e-8)
    sim = simulate("access", n_users=3_000, seed=3, randomize_by="workspace").data
    kw2 = {**ACCESS, "cluster": "workspace_id"}
    c, d = iv(sim, **kw2), iv(pl.from_pandas(sim).lazy(), **kw2)
    assert _numbers(d) == pytest.approx(_numbers(c), rel=1e-9)
    assert "200 clusters" in d["LATE"].inference
