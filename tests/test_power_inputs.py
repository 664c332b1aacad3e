"""power_inputs: sd, CUPED rho and cluster ICC from sums, in memory or inside an engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift.experiment import power, power_inputs

duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")


@pytest.fixture(scope="module")
def pre() -> pd.DataFrame:
    return truelift.simulate("experiment", n_users=5000, seed=7).data


def test_sd_and_rho_equal_the_textbook_formulas(pre):
    got = power_inputs(pre, outcome="active_minutes", covariates=["pre_active_minutes"])
    y, x = pre["active_minutes"].to_numpy(), pre["pre_active_minutes"].to_numpy()
    # one covariate: rho is Pearson's r; sd the sample sd (n - 1): same formulas, rounding only
    assert got.sd == pytest.approx(np.std(y, ddof=1), rel=1e-10)
    assert got.rho == pytest.approx(np.corrcoef(y, x)[0, 1], rel=1e-9)
    assert (got.icc, got.cluster_size, got.engine) == (0.0, 1.0, "in-memory")
    n_plain = power(effect=1.0, power=0.8, sd=got.sd).n_total
    n_cuped = power(effect=1.0, power=0.8, **got.kwargs()).n_total
    assert n_cuped == pytest.approx(n_plain * (1 - got.rho**2), rel=1e-6)


def test_icc_recovers_a_known_intra_cluster_correlation():
    # y = u_g + e with var(u) = 0.2, var(e) = 0.8: ICC 0.2 by construction (400 clusters of 50)
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(400), 50)
    y = rng.normal(0, np.sqrt(0.2), 400)[g] + rng.normal(0, np.sqrt(0.8), g.size)
    got = power_inputs(pd.DataFrame({"y": y, "g": g}), outcome="y", cluster="g")
    # sampling SD of the ANOVA ICC here is about 0.012 (large-sample formula): under 4 SD
    assert got.icc == pytest.approx(0.2, abs=0.045)
    assert (got.cluster_size, got.n_clusters) == (50.0, 400)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_engine_sums_equal_in_memory(pre, engine):
    ws = truelift.simulate("experiment", n_users=4000, seed=3, randomization="workspace").data
    kw = {
        "outcome": "active_minutes",
        "covariates": ["pre_active_minutes", "engagement_tier"],
        "cluster": "workspace_id",
    }
    lazy = duckdb.connect().from_df(ws) if engine == "duckdb" else pl.from_pandas(ws).lazy()
    a, b = power_inputs(ws, **kw), power_inputs(lazy, **kw)
    assert b.engine == engine and "per-cluster" in b.transferred
    fields = ("mean", "sd", "rho", "icc", "cluster_size")
    # same sums, same formulas: summation order only
    assert [getattr(b, f) for f in fields] == pytest.approx(
        [getattr(a, f) for f in fields], rel=1e-9
    )
    assert b.covariates == a.covariates and b.n == a.n == 4000
