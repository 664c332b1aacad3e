"""synth() on lazy tables: the unit x period panel is aggregated inside the engine (one group-by)
and only that panel leaves it; the same kernel then runs. Also: user-level rows are averaged.

Bar (issue 10): every estimate and SE equal to the in-memory path to 1e-9 relative. The engine
computes the same cell means in another summation order, so only rounding (~1e-15) separates the
two paths; 1e-9 leaves room for that rounding to pass through the weight solvers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import truelift
from tests.conftest import reference_csv
from truelift.errors import ColumnNotFoundError, DataError, MissingValueError
from truelift.synth import synth

duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")

REL = 1e-9
COLS = {"outcome": "task_completion", "unit": "product", "time": "week", "treatment": "launched"}


def numbers(est) -> list[float]:
    out = [est.estimate, est.std_error, est.ci_low, est.ci_high, est.p_value]
    return out + list(est.details["weights"].values()) + list(est.details["gap"])


def to_engine(df: pd.DataFrame, engine: str):
    if engine == "duckdb":
        return duckdb.connect().from_df(df)
    if engine == "polars-lazy":
        return pl.from_pandas(df).lazy()
    if engine == "polars":
        return pl.from_pandas(df)
    return df


@pytest.fixture(scope="module")
def launch() -> pd.DataFrame:
    return truelift.simulate("launch", seed=4, n_donors=12, n_pre=12, n_post=4).data


@pytest.fixture(scope="module")
def user_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    """User-level rows (one per user and week, 0/1 completion) and their product-week panel."""
    sim = truelift.simulate("launch", seed=2, n_users=1_300, n_donors=12, n_pre=12, n_post=4)
    panel = sim.data
    m = int(sim.params["users_per_week"])
    rep = panel.loc[panel.index.repeat(m)].reset_index(drop=True)
    rank = rep.groupby(["product", "week"]).cumcount()
    rep["task_completion"] = (rank < rep["completions"]).astype(float)
    return panel, rep.sample(frac=1.0, random_state=0)


@pytest.mark.parametrize("engine", ["duckdb", "polars-lazy", "polars"])
@pytest.mark.parametrize("method", ["sc", "demeaned", "sdid", "augmented"])
def test_engine_path_equals_in_memory(launch, engine, method):
    a = synth(launch, **COLS, method=method)
    b = synth(to_engine(launch, engine), **COLS, method=method)
    assert a.params["engine"] == "in-memory"
    assert b.params["engine"] == ("in-memory" if engine == "polars" else engine.split("-")[0])
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    assert (b.n_obs, b.n_dropped) == (a.n_obs, a.n_dropped)
    if engine != "polars":
        assert "unit x period panel: 208 rows" in b.details["transferred"]


def test_engine_predictors_basque():
    # ADH predictor matching with NaN predictor values in many years (the Basque data): the
    # engine's per-cell predictor means ignore missing values exactly as the in-memory path does.
    from tests.test_synth import BASQUE_PREDICTORS

    d = reference_csv("basque.csv")
    d = d[d.regionno != 1]
    kw = {
        "outcome": "gdpcap",
        "unit": "regionname",
        "time": "year",
        "treated_unit": "Basque Country (Pais Vasco)",
        "treatment_time": 1975,
        "predictors": BASQUE_PREDICTORS,
        "fit_window": (1960, 1969),
        "inference": None,
    }
    a = synth(d, **kw)
    b = synth(duckdb.connect().from_df(d), **kw)
    assert b.params["engine"] == "duckdb"
    assert b.estimate == pytest.approx(a.estimate, rel=REL)
    assert b.details["v"] == pytest.approx(a.details["v"], rel=1e-6)  # Nelder-Mead path
    assert "predictor means" in b.details["transferred"]


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "polars-lazy"])
def test_user_level_rows_are_averaged(user_rows, engine):
    # The panel of user-level rows is their mean per unit and period: here exactly the
    # simulator's weekly completion rate, so every number equals the panel's (1e-9: rounding).
    panel, users = user_rows
    a = synth(panel, **COLS, method="demeaned")
    b = synth(to_engine(users, engine), **COLS, method="demeaned")
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    assert b.n_obs == len(users)


def test_saas_user_rows_match_the_workspace_panel(saas):
    # The staged-rollout user table passed as it is: cells are workspace x signup-week means and
    # the 25 wave-1 workspaces are averaged into the treated path; equal to aggregating by hand.
    d = saas.data[saas.data.signup_week < 30]
    kw = {"outcome": "task_completed", "unit": "workspace_id", "time": "signup_week"}
    by_hand = d.groupby(["workspace_id", "signup_week"], as_index=False).agg(
        task_completed=("task_completed", "mean"), treated_post=("treated_post", "max")
    )
    a = synth(by_hand, **kw, treatment="treated_post", method="demeaned")
    b = synth(duckdb.connect().from_df(d), **kw, treatment="treated_post", method="demeaned")
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    assert b.n_obs == len(d) and a.params["treated_units"] == list(range(25))


@pytest.mark.parametrize("engine", ["duckdb", "polars-lazy"])
def test_hostile_column_names(launch, engine):
    hostile = {
        "task_completion": 'y"; DROP TABLE t; --',
        "product": "a.b`) OR 1=1",
        "week": "*",
        "launched": "^d.*$",
    }
    d = launch.rename(columns=hostile)
    b = synth(to_engine(d, engine), **{k: hostile[v] for k, v in COLS.items()}, method="sdid")
    a = synth(launch, **COLS, method="sdid")
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)


def test_engine_missing_policy(launch):
    d = launch.copy()
    d.loc[d.index[[20, 40]], "task_completion"] = np.nan  # two donor cells lose their outcome
    d.loc[d.index[[70]], "product"] = None
    rel = duckdb.connect().from_df(d)
    with pytest.raises(MissingValueError, match="Missing values"):
        synth(rel, **COLS)
    with pytest.warns(truelift.MissingDataWarning):
        a = synth(d, **COLS, missing="drop")
    with pytest.warns(truelift.MissingDataWarning):
        b = synth(rel, **COLS, missing="drop")
    assert numbers(b) == pytest.approx(numbers(a), rel=REL)
    assert (b.n_obs, b.n_dropped) == (a.n_obs, a.n_dropped)


def test_engine_errors(launch):
    rel = duckdb.connect().from_df(launch)
    with pytest.raises(ColumnNotFoundError, match="Did you mean"):
        synth(rel, **{**COLS, "outcome": "task_complet"})
    bad = launch.assign(launched=launch["launched"] * 2)
    with pytest.raises(DataError, match="binary"):
        synth(duckdb.connect().from_df(bad), **COLS)
    mixed = pd.concat([launch, launch.assign(launched=1 - launch["launched"])])
    for data in (mixed, duckdb.connect().from_df(mixed)):
        with pytest.raises(DataError, match="within"):
            synth(data, **COLS)
