"""The unit x period panel of a synthetic control, aggregated where the data live.

One narwhals lazy group-by over ``(unit, period)`` runs inside the engine (DuckDB relation, polars
LazyFrame, PySpark or Spark Connect DataFrame) and returns, per cell: the row count, the count of
rows with a missing value in each used column, the mean outcome, the treatment flag's minimum and
maximum, and the mean of every predictor column (its own missing values ignored). Only that table
(units x periods rows) leaves the engine; :func:`truelift.synth._panel.panel_from_cells` and the
kernels then run exactly as for an in-memory frame. Column names reach the engine only through
:func:`truelift.engines.with_safe_names` (positional renaming; no name is parsed).
"""

from __future__ import annotations

import warnings
from functools import reduce
from typing import Any

import narwhals as nw
import numpy as np

from truelift import _frame
from truelift.engines import engine_name, with_safe_names
from truelift.errors import ColumnNotFoundError, DataError, MissingDataWarning, MissingValueError
from truelift.synth._panel import Cells, check_constant_treatment

__all__ = ["cells_from_engine"]


def _require(names: dict[str, str], role: str, name: str) -> None:
    if name not in names:
        close = _frame.closest_columns(name, list(names))
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ColumnNotFoundError(f"{role.capitalize()} column {name!r} not found.{hint}")


def _numeric(schema: Any, col: str, role: str, name: str) -> None:
    dtype = schema[col]
    if not (dtype.is_numeric() or dtype == nw.Boolean):
        raise DataError(
            f"{role.capitalize()} column {name!r} must be numeric; found dtype {dtype}."
        )


def _missing(schema: Any, col: str) -> Any:
    """Null, or NaN for a float column (the in-memory boundary's definition of missing)."""
    expr = nw.col(col).is_null()
    if schema[col].is_float():
        expr = expr | nw.col(col).is_nan().fill_null(True)
    return expr


def _arr(table: Any, col: str, dtype: Any = float) -> np.ndarray:
    return np.asarray(table[col].to_numpy(), dtype=dtype)


def cells_from_engine(
    lf: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str | None,
    predictors: list[str],
    missing: _frame.MissingPolicy,
) -> Cells:
    """Unit-period cells of a lazy table, computed by one group-by inside its engine."""
    if missing not in ("raise", "drop"):
        raise DataError(f"missing must be 'raise' or 'drop'; got {missing!r}.")
    engine = engine_name(lf)
    lf, names = with_safe_names(lf)
    roles = {"outcome": outcome, "unit": unit, "time": time}
    if treatment is not None:
        roles["treatment"] = treatment
    for role, name in roles.items():
        _require(names, role, name)
    for name in predictors:
        _require(names, "predictor", name)
    schema = lf.collect_schema()
    _numeric(schema, names[outcome], "outcome", outcome)
    if treatment is not None:
        _numeric(schema, names[treatment], "treatment", treatment)
    for name in predictors:
        _numeric(schema, names[name], "predictor", name)
    used = list(dict.fromkeys(roles.values()))
    miss = {name: _missing(schema, names[name]) for name in used}
    bad = reduce(lambda a, b: a | b, miss.values())
    cols: dict[str, Any] = {"__bad": bad.cast(nw.Int64)}
    cols.update({f"__m{i}": m.cast(nw.Int64) for i, m in enumerate(miss.values())})
    cols["__y"] = nw.when(~bad).then(nw.col(names[outcome]).cast(nw.Float64))
    if treatment is not None:
        cols["__d"] = nw.when(~bad).then(nw.col(names[treatment]).cast(nw.Float64))
    for i, name in enumerate(predictors):
        ok = ~bad & ~_missing(schema, names[name])
        cols[f"__x{i}"] = nw.when(ok).then(nw.col(names[name]).cast(nw.Float64))
    aggs = [nw.len().alias("__n"), nw.col("__bad").sum(), nw.col("__y").mean()]
    aggs += [nw.col(f"__m{i}").sum() for i in range(len(miss))]
    if treatment is not None:
        aggs += [nw.col("__d").min().alias("__dlo"), nw.col("__d").max().alias("__dhi")]
    aggs += [nw.col(f"__x{i}").mean() for i in range(len(predictors))]
    u, t = names[unit], names[time]
    table = lf.with_columns(**cols).group_by(u, t).agg(*aggs).collect()
    if len(table) == 0:
        raise DataError("data has no rows; there is nothing to analyse.")
    n_dropped = _missing_policy(table, used, missing)
    keep = (_arr(table, "__n") - _arr(table, "__bad")) > 0
    ulab, ucode = np.unique(np.asarray(table[u].to_numpy())[keep], return_inverse=True)
    tlab, tcode = np.unique(np.asarray(table[t].to_numpy())[keep], return_inverse=True)
    y = _arr(table, "__y")[keep]
    if not np.all(np.isfinite(y)):
        raise DataError(
            f"Outcome column {outcome!r} has infinite values; infinite values cannot be analysed."
        )
    d = None
    if treatment is not None:
        lo, hi = _arr(table, "__dlo")[keep], _arr(table, "__dhi")[keep]
        values = np.unique(np.concatenate([lo, hi]))
        if np.any((values != 0) & (values != 1)):
            raise DataError(
                f"Treatment column {treatment!r} must be binary (0/1 or bool); found values "
                f"{values[:6].tolist()}."
            )
        if values.size < 2:
            raise DataError(
                f"Treatment column {treatment!r} has only one value ({values[0]:g}); an effect "
                "needs both treated (1) and untreated (0) units."
            )
        d = check_constant_treatment(lo, hi, treatment)
    X = {name: _arr(table, f"__x{i}")[keep] for i, name in enumerate(predictors)}
    transferred = (
        f"unit x period panel: {len(table):,} rows x {len(table.columns)} columns (row count, "
        "missing counts, mean outcome"
        + (", treatment min/max" if treatment is not None else "")
        + (f", {len(predictors)} predictor means" if predictors else "")
        + "); no user-level rows"
    )
    return Cells(
        units=ulab,
        times=tlab,
        ucode=ucode.astype(np.int64),
        tcode=tcode.astype(np.int64),
        n=_arr(table, "__n")[keep] - _arr(table, "__bad")[keep],
        y=y,
        d=d,
        X=X,
        n_dropped=n_dropped,
        engine=engine,
        transferred=transferred,
    )


def _missing_policy(table: Any, used: list[str], missing: str) -> int:
    """Apply the missing-value policy to the per-column missing counts; rows dropped."""
    n_bad = int(_arr(table, "__bad").sum())
    if n_bad == 0:
        return 0
    by = {name: int(_arr(table, f"__m{i}").sum()) for i, name in enumerate(used)}
    summary = ", ".join(f"{k!r}: {v:,}" for k, v in by.items() if v)
    if missing == "raise":
        raise MissingValueError(
            f"Missing values found ({summary}). Pass missing='drop' to drop those rows "
            "(the result records how many), or impute them first."
        )
    n_rows = int(_arr(table, "__n").sum())
    warnings.warn(
        f"Dropped {n_bad:,} of {n_rows:,} rows with missing values ({summary}).",
        MissingDataWarning,
        stacklevel=4,
    )
    return n_bad
