"""Uplift entry points on lazy tables (DuckDB, polars lazy): rows collected, recorded, sampled
only when asked (``sample=``).

Gradient-boosted learners need rows in memory, so these entry points select the needed columns in
the engine and collect them. The bar: on the same rows the result equals the in-memory path
(same arrays, same seeds: exact), the result records the engine, the rows and the columns that left
it, and ``sample=`` is the only way rows are left out.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

import truelift
from truelift.uplift import (
    evaluate_uplift,
    fit_uplift,
    heterogeneity_test,
    policy_value,
    targeting_rule,
)

COVS = ["engagement_tier", "query_confidence", "tenure_weeks"]
KW = {"treatment": "agent_mode", "outcome": "task_completed"}
N = 2000


def _fast() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=10, random_state=0)


@pytest.fixture(scope="module")
def table():
    return truelift.simulate("hetero", n_users=N, seed=3).data


@pytest.fixture(scope="module", params=["duckdb", "polars"])
def lazy(request, table):
    if request.param == "duckdb":
        return request.param, duckdb.from_df(table)
    return request.param, pl.from_pandas(table).lazy()


def test_fit_uplift_collects_only_the_needed_columns(table, lazy):
    engine, data = lazy
    kw = dict(KW, covariates=COVS, learner="x", model=_fast(), propensity=0.5, n_folds=2, rng=1)
    eager = fit_uplift(table, **kw)
    got = fit_uplift(data, **kw)
    # same rows, same order, same seeds: the out-of-fold CATE is identical (exact)
    np.testing.assert_array_equal(got.cate_, eager.cate_)
    rec = got.collected_
    assert rec["engine"] == engine and rec["rows_collected"] == N and rec["sample"] is None
    assert rec["columns"] == ["agent_mode", "task_completed", *COVS]  # not true_cate etc.
    assert eager.collected_["engine"] == "in-memory"
    assert eager.collected_["rows_collected"] is None


def test_results_equal_the_in_memory_path_and_say_rows_were_collected(table, lazy):
    engine, data = lazy
    het_kw = dict(KW, covariates=COVS, propensity="propensity", model=_fast(), n_folds=2, rng=0)
    pairs = [
        (heterogeneity_test(table, **het_kw), heterogeneity_test(data, **het_kw)),
        (
            policy_value(table, **KW, policy="oracle_policy", propensity=0.5, cost=0.015),
            policy_value(data, **KW, policy="oracle_policy", propensity=0.5, cost=0.015),
        ),
        (
            evaluate_uplift(table, **KW, score="true_cate", n_boot=20, rng=0),
            evaluate_uplift(data, **KW, score="true_cate", n_boot=20, rng=0),
        ),
    ]
    for eager, got in pairs:
        for label, e in eager:
            assert got[label].estimate == e.estimate  # same arrays, same kernel: exact
            assert got[label].std_error == e.std_error
        assert got.params["engine"] == f"{engine} (rows collected: {N:,})"
        assert eager.params["engine"] == "in-memory"
        assert got.details["collected"]["rows_collected"] == N
        assert any(w.startswith(f"Rows collected from the {engine} table") for w in got.warnings)
        assert not any("Rows collected" in w for w in eager.warnings)


def test_targeting_rule_on_a_lazy_table(table, lazy):
    engine, data = lazy
    kw = dict(KW, covariates=COVS, cost=0.015, value=0.5, propensity=0.5, model=_fast(), n_folds=2)
    eager = targeting_rule(table, rng=0, **kw)
    rule = targeting_rule(data, rng=0, **kw)
    assert rule.to_dict()["collected"]["rows_collected"] == N
    assert rule.to_dict()["collected"]["engine"] == engine
    assert rule.evaluation["policy"].estimate == eager.evaluation["policy"].estimate
    # scoring new users from the lazy table (covariates collected) equals scoring the frame
    np.testing.assert_array_equal(rule.decide(data), rule.decide(table))


@pytest.mark.parametrize(("sample", "expected"), [(0.25, 500), (300, 300), (N + 10, N)])
def test_sample_is_the_only_way_rows_are_left_out(table, lazy, sample, expected):
    _, data = lazy
    kw = dict(KW, policy="oracle_policy", propensity=0.5, sample=sample)
    res = policy_value(data, rng=4, **kw)
    # fraction -> round(fraction x rows); a count -> that many rows (at most all of them)
    assert res["policy"].n_obs == expected and res["policy"].n_dropped == 0
    rec = res.details["collected"]["sample"]
    assert rec == {
        "requested": sample,
        "rows": expected,
        "of": N,
        "how": "simple random sample without replacement (rng), drawn in memory",
    }
    assert any(f"random sample of {expected:,} of {N:,} rows" in w for w in res.warnings)
    # reproducible: the same rng draws the same rows, on the lazy table and on the frame alike
    assert policy_value(data, rng=4, **kw)["policy"].estimate == res["policy"].estimate
    assert policy_value(table, rng=4, **kw)["policy"].estimate == res["policy"].estimate
    if expected < N:  # a different rng draws other rows
        assert policy_value(data, rng=5, **kw)["policy"].estimate != res["policy"].estimate


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, 0, -3, True, "half"])
def test_bad_sample_raises(table, bad):
    with pytest.raises(truelift.DesignError, match="sample"):
        policy_value(table, **KW, policy="oracle_policy", propensity=0.5, sample=bad)


def test_missing_column_in_a_lazy_table_names_the_closest(table):
    rel = duckdb.from_df(table)
    with pytest.raises(truelift.ColumnNotFoundError, match="agent_mode"):
        fit_uplift(rel, treatment="agent_mod", outcome="task_completed", covariates=COVS)
