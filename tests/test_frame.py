"""The data boundary: column lookup, types, missing values, encoding, input immutability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from truelift import _frame
from truelift.errors import ColumnNotFoundError, DataError, MissingDataWarning, MissingValueError


@pytest.fixture
def df():
    return pd.DataFrame(
        {
            "opt_in_agent_mode": [0, 1, 0, 1, 1, 0],
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.5],
            "tier": ["light", "heavy", "medium", "light", "heavy", "light"],
            "ws": ["a", "b", "a", "b", "c", "c"],
        }
    )


def test_missing_column_suggests_closest(df):
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'opt_in_agent_mode'") as info:
        _frame.load(df, binary={"treatment": "opt_in_agent_mod"})
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_non_binary_treatment_shows_counts(df):
    df.loc[0, "opt_in_agent_mode"] = 2
    with pytest.raises(DataError, match=r"must be binary .* 3 distinct values: .*2 \(n=1\)"):
        _frame.load(df, binary={"treatment": "opt_in_agent_mode"})


def test_wrong_dtype_and_inf(df):
    with pytest.raises(DataError, match="must be numeric"):
        _frame.load(df, numeric={"outcome": "tier"})
    df.loc[1, "y"] = np.inf
    with pytest.raises(DataError, match="infinite"):
        _frame.load(df, numeric={"outcome": "y"})


def test_missing_raise_and_drop(df):
    df.loc[[1, 2], "y"] = np.nan
    before = df.copy()
    with pytest.raises(MissingValueError, match="'y': 2"):
        _frame.load(df, numeric={"outcome": "y"})
    with pytest.warns(MissingDataWarning, match="Dropped 2 of 6"):
        cols = _frame.load(df, numeric={"outcome": "y"}, keys={"cluster": "ws"}, missing="drop")
    assert cols.n_obs == 4 and cols.n_dropped == 2 and cols.dropped_by_column == {"y": 2}
    pd.testing.assert_frame_equal(df, before)


def test_returned_arrays_do_not_alias_the_frame(df):
    cols = _frame.load(df, numeric={"outcome": "y"})
    cols["outcome"][0] = 99.0
    assert df.loc[0, "y"] == 1.0


def test_categorical_covariates_one_hot_against_first_level(df):
    cols = _frame.load(df, covariates=["tier", "y"])
    assert cols.X_names == ("tier[light]", "tier[medium]", "y")
    assert cols.X[:, 0].tolist() == [1, 0, 0, 1, 0, 1]


def test_keys_are_codes_with_levels(df):
    cols = _frame.load(df, keys={"cluster": "ws"})
    assert cols["cluster"].tolist() == [0, 1, 0, 1, 2, 2]
    assert cols.levels["cluster"].tolist() == ["a", "b", "c"]


def test_constant_and_empty(df):
    with pytest.raises(DataError, match="constant"):
        _frame.load(df.assign(y=1.0), numeric={"outcome": "y"})
    with pytest.raises(DataError, match="constant"):
        _frame.load(df.assign(c=3.0), covariates=["c"])
    with pytest.raises(DataError, match="no rows"):
        _frame.load(df.iloc[0:0], numeric={"outcome": "y"})
    with pytest.raises(DataError, match="pandas, polars or pyarrow"):
        _frame.load([1, 2, 3], numeric={"outcome": "y"})
