"""Every public estimator keeps one contract (see tests/contract/__init__.py).

It returns the shared result type, renders as text / Markdown / HTML, serialises to strict JSON,
leaves its input untouched, answers the same on pandas, polars and pyarrow, survives hostile
column names, and raises a typed TrueliftError (never a bare traceback or a silent NaN) on bad input.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import truelift
from tests.contract import ContractCase, all_cases

CASES = all_cases()
HOSTILE = ["we\"ird'col", "<script>alert(1)</script>", "select * from; drop table x;--", "a b.c"]


def _skip(case: ContractCase, check: str) -> None:
    if check in case.skip:
        pytest.skip(case.skip[check])


def _numbers(result: Any) -> list[float]:
    if isinstance(result, truelift.Estimate):
        return [result.estimate, result.std_error, result.ci_low, result.ci_high]
    return [x for _, e in result.estimates for x in _numbers(e)]


def _assert_same(a: Any, b: Any, rel: float) -> None:
    na, nb = _numbers(a), _numbers(b)
    assert len(na) == len(nb)
    for x, y in zip(na, nb, strict=True):
        if math.isnan(x):
            assert math.isnan(y)
        else:
            assert y == pytest.approx(x, rel=rel, abs=1e-12)


def _call(case: ContractCase, frame: Any, **override: Any) -> Any:
    return case.func(frame, **{**case.kwargs, **override})


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> ContractCase:
    return request.param


def test_result_shape_and_rendering(case):
    result = _call(case, case.data())
    assert isinstance(result, (truelift.Estimate, truelift.EstimateSet))
    for fmt in ("text", "markdown", "html"):
        text = result.summary(fmt)
        assert isinstance(text, str) and text
    assert result._repr_html_().startswith("<")
    payload = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(payload)["method"] == result.method
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) >= 1
    assert all(np.isfinite(_numbers(result))), "estimates and SEs must be finite on good data"


def test_input_unchanged(case):
    data = case.data()
    before = data.copy(deep=True)
    _call(case, data)
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize("backend", ["polars", "pyarrow"])
def test_backends_agree(case, backend):
    _skip(case, "backends")
    data = case.data()
    expected = _call(case, data)
    if backend == "polars":
        pl = pytest.importorskip("polars")
        other = pl.from_pandas(data)
    else:
        pa = pytest.importorskip("pyarrow")
        other = pa.Table.from_pandas(data, preserve_index=False)
    _assert_same(expected, _call(case, other), case.rel_tol)


def test_hostile_column_names(case):
    _skip(case, "hostile")
    data = case.data()
    cols = case.column_args(data)
    used = list(
        dict.fromkeys(c for v in cols.values() for c in (v if isinstance(v, list) else [v]))
    )
    rename = {c: f"{HOSTILE[i % len(HOSTILE)]}{i}" for i, c in enumerate(used)}
    override = {
        k: ([rename[c] for c in v] if isinstance(v, list) else rename[v]) for k, v in cols.items()
    }
    result = _call(case, data.rename(columns=rename), **override)
    _assert_same(_call(case, data), result, case.rel_tol)
    assert "<script>alert" not in result.summary("html")


def test_missing_column_names_the_closest(case):
    data = case.data()
    key, col = next((k, v) for k, v in case.column_args(data).items() if isinstance(v, str))
    with pytest.raises(truelift.ColumnNotFoundError, match="Did you mean"):
        _call(case, data, **{key: col + "x"})


def test_empty_frame(case):
    data = case.data()
    with pytest.raises(truelift.TrueliftError):
        _call(case, data.iloc[0:0])


def _corrupt(case: ContractCase, kind: str) -> pd.DataFrame:
    data = case.data()
    col = case.outcome
    if col is None:
        pytest.skip("no outcome column to corrupt")
    if kind == "nan":
        data[col] = data[col].astype(float)
        data.loc[data.index[::7], col] = np.nan
    elif kind == "inf":
        data[col] = data[col].astype(float)
        data.loc[data.index[3], col] = np.inf
    elif kind == "constant":
        data[col] = 1.0
    elif kind == "dtype":
        data[col] = data[col].astype(str)
    return data


@pytest.mark.parametrize("kind", ["nan", "inf", "constant", "dtype"])
def test_bad_outcome_raises_typed_error(case, kind):
    _skip(case, f"outcome_{kind}")
    data = _corrupt(case, kind)
    expected = truelift.MissingValueError if kind == "nan" else truelift.TrueliftError
    with pytest.raises(expected):
        _call(case, data)


def test_missing_drop_records_and_warns(case):
    _skip(case, "missing_drop")
    data = _corrupt(case, "nan")
    with pytest.warns(truelift.MissingDataWarning):
        result = _call(case, data, missing="drop")
    n_nan = int(data[case.outcome].isna().sum())
    estimates = [result] if isinstance(result, truelift.Estimate) else [e for _, e in result]
    assert all(e.n_dropped >= n_nan for e in estimates)


@pytest.mark.parametrize("kind", ["one_arm", "non_binary", "string"])
def test_bad_treatment_raises_typed_error(case, kind):
    if case.treatment is None:
        pytest.skip("no binary treatment column")
    _skip(case, f"treatment_{kind}")
    data = case.data()
    if kind == "one_arm":
        data[case.treatment] = 1
    elif kind == "non_binary":
        data.loc[data.index[:5], case.treatment] = 2
    else:
        data[case.treatment] = data[case.treatment].map({0: "control", 1: "treated"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(truelift.TrueliftError):
            _call(case, data)
