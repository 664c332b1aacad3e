"""The one data boundary: any supported frame -> validated numpy columns.

Designs call :func:`load` with the role of every column they need (``binary``, ``numeric``,
``keys``, ``covariates``) and get back a :class:`Columns` bundle of numpy arrays that no longer
refers to the caller's frame (the caller's data are never modified). Checks live here once:

* missing columns raise :class:`ColumnNotFoundError` naming the closest columns;
* binary roles must be 0/1 or bool, numeric roles numeric and finite; offending values are counted;
* ``missing="raise"`` (default) raises on nulls/NaN, ``missing="drop"`` drops those rows, records
  ``n_dropped`` and warns with the count per column (:class:`MissingDataWarning`);
* infinite values always raise (they are not "missing"; they are wrong);
* categorical covariates (string, categorical, enum) are one-hot encoded against their first level.

Accepted inputs: pandas, polars and pyarrow tables (through narwhals).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import narwhals.stable.v1 as nw
import numpy as np

from truelift._parallel import MIN_ROWS, run_jobs
from truelift.errors import (
    ColumnNotFoundError,
    DataError,
    EagerTableRequired,
    MissingDataWarning,
    MissingValueError,
)

__all__ = ["Columns", "MissingPolicy", "closest_columns", "factorize", "load", "to_frame"]

MissingPolicy = Literal["raise", "drop"]


@dataclass(frozen=True)
class Columns:
    """Validated columns keyed by role, all of length ``n_obs``.

    ``X``/``X_names`` is the covariate design matrix (no intercept) when covariates were asked for.
    ``codes``/``levels`` give integer codes and their labels for every key role.
    """

    arrays: dict[str, np.ndarray]
    n_obs: int
    n_dropped: int
    dropped_by_column: dict[str, int]
    X: np.ndarray
    X_names: tuple[str, ...]
    levels: dict[str, np.ndarray] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, role: str) -> np.ndarray:
        return self.arrays[role]

    def __contains__(self, role: str) -> bool:
        return role in self.arrays


def to_frame(data: Any) -> Any:
    """Wrap a pandas / polars / pyarrow table as an eager narwhals DataFrame, or raise DataError."""
    try:
        df = nw.from_native(data, eager_only=True)
    except TypeError as exc:
        raise EagerTableRequired(
            f"data must be a pandas, polars or pyarrow table; got {type(data).__name__}. "
            "Convert it first, e.g. pandas.DataFrame(data)."
        ) from exc
    return df


def closest_columns(name: str, columns: Sequence[str], n: int = 3) -> list[str]:
    """Existing column names closest to ``name`` (case-insensitive)."""
    lower = {c.lower(): c for c in columns}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.5)
    return [lower[h] for h in hits]


def _require(df: Any, role: str, name: str) -> None:
    if not isinstance(name, str):
        raise DataError(f"{role} must be a column name (str); got {type(name).__name__} {name!r}.")
    columns = list(df.columns)
    if name in columns:
        return
    close = closest_columns(name, columns)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(c) for c in columns[:20]) + (" ..." if len(columns) > 20 else "")
    raise ColumnNotFoundError(
        f"{role.capitalize()} column {name!r} not found.{hint} Available columns: {shown}."
    )


def _value_counts(values: np.ndarray, limit: int = 6) -> str:
    uniq, counts = np.unique(values.astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")[:limit]
    shown = ", ".join(f"{uniq[i]} (n={counts[i]:,})" for i in order)
    more = f", ... ({len(uniq) - limit} more)" if len(uniq) > limit else ""
    return f"{len(uniq)} distinct values: {shown}{more}"


def _is_categorical(dtype: Any) -> bool:
    return bool(
        dtype == nw.String or dtype == nw.Categorical or dtype == nw.Enum or dtype == nw.Object
    )


def _null_mask(series: Any) -> np.ndarray:
    mask = np.array(series.is_null().to_numpy(), dtype=bool)
    if series.dtype.is_float():
        mask |= np.asarray(series.is_nan().fill_null(True).to_numpy(), dtype=bool)
    return mask


def _float_values(series: Any) -> np.ndarray | None:
    """The float column's values as numpy (no copy where the frame allows), else None."""
    if not series.dtype.is_float():
        return None
    arr = np.asarray(series.to_numpy())
    return arr if arr.dtype.kind == "f" else None


def _finite_sum(arr: np.ndarray | None) -> bool:
    """True when a float column provably has no null, NaN or infinite value.

    One vectorised sum: NaN and infinities propagate into it, so a finite sum proves the column
    clean without a full mask. Other dtypes (``None``; and a non-finite sum, or an overflow)
    return False and are checked value by value.
    """
    if arr is None:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(arr)))


class _ColumnCache:
    """A frame's columns, each looked up once (a narwhals lookup costs about 0.1-0.3 ms)."""

    def __init__(self, df: Any) -> None:
        self.df = df
        self.n = len(df)
        self._cols: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cols:
            self._cols[name] = self.df[name]
        return self._cols[name]


def _clean_columns(df: _ColumnCache, names: Sequence[str]) -> frozenset[str]:
    """The float columns among ``names`` proven finite by :func:`_finite_sum` (one job per
    column on the worker threads when there are many rows)."""
    jobs = [partial(_finite_sum, _float_values(df[name])) for name in names]
    ok = run_jobs(jobs, threaded=df.n * len(names) >= MIN_ROWS)
    return frozenset(name for name, good in zip(names, ok, strict=True) if good)


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(levels, codes)`` with sorted levels, equal to ``np.unique(values, return_inverse=True)``
    but by hashing (linear time) rather than sorting every row."""
    import pandas as pd

    values = np.asarray(values)
    try:
        codes, levels = pd.factorize(values, sort=True)
    except TypeError:  # unorderable mixtures: let numpy raise its own error
        levels, codes = np.unique(values, return_inverse=True)
    return np.asarray(levels), np.asarray(codes, dtype=np.int64).ravel()


def _numeric_source(series: Any, role: str, name: str) -> Any:
    """The column's values as numpy (not yet copied); DataError unless numeric or boolean."""
    dtype = series.dtype
    if not (dtype.is_numeric() or dtype == nw.Boolean):
        sample = series.head(50).to_numpy()
        raise DataError(
            f"{role.capitalize()} column {name!r} must be numeric; found dtype {dtype} "
            f"(e.g. {_value_counts(np.asarray(sample))}). Convert it to numbers or encode it."
        )
    return series.to_numpy()


def _numeric_copy(
    values: Any, role: str, name: str, out: np.ndarray | None = None, clean: bool = False
) -> np.ndarray:
    """``values`` as float64 (a copy; written into ``out`` when given), checked finite unless
    ``clean`` says it is already known to be (see :func:`_finite_sum`)."""
    if out is None:
        arr = np.array(values, dtype=np.float64, copy=True)
    else:
        out[:] = values
        arr = out
    if not clean:
        bad = ~np.isfinite(arr)
        if bad.any():
            raise DataError(
                f"{role.capitalize()} column {name!r} has {int(bad.sum()):,} infinite value(s); "
                "infinite values cannot be analysed. Fix or remove those rows."
            )
    return arr


def _numeric(
    series: Any, role: str, name: str, out: np.ndarray | None = None, clean: bool = False
) -> np.ndarray:
    """The column as float64 (a copy; written into ``out`` when given). ``clean`` says the
    column is already known to be finite (see :func:`_finite_sum`)."""
    return _numeric_copy(_numeric_source(series, role, name), role, name, out, clean)


def _constant(x: np.ndarray) -> bool:
    """True when every value equals the first (a leading slice usually settles it)."""
    head = x[:4096]
    if head.size and head.min() != head.max():
        return False
    return bool(x.min() == x.max())


def _binary(series: Any, role: str, name: str, require_both: bool) -> np.ndarray:
    if series.dtype == nw.Boolean:
        arr = np.asarray(series.to_numpy(), dtype=np.float64)
    else:
        if not series.dtype.is_numeric():
            raise DataError(
                f"{role.capitalize()} column {name!r} must be binary (0/1 or bool); found dtype "
                f"{series.dtype} with {_value_counts(np.asarray(series.to_numpy()))}."
            )
        arr = np.array(series.to_numpy(), dtype=np.float64, copy=True)
    ok = (arr == 0) | (arr == 1)
    if not ok.all():
        raise DataError(
            f"{role.capitalize()} column {name!r} must be binary (0/1 or bool); found "
            f"{_value_counts(np.asarray(series.to_numpy()))}."
        )
    if require_both and _constant(arr):
        raise DataError(
            f"{role.capitalize()} column {name!r} has only one value ({arr[0]:g}) in all "
            f"{arr.size:,} rows; an effect needs both treated (1) and untreated (0) units."
        )
    return arr


def _levels(series: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted level labels (as text) of a categorical covariate and each row's level index."""
    uniq, codes = factorize(np.asarray(series.to_numpy()))
    levels, remap = np.unique(np.asarray(uniq).astype(str), return_inverse=True)
    if levels.size < 2:
        raise DataError(
            f"Covariate {name!r} takes a single value ({levels[0]!r}) in every row; "
            "it carries no information. Remove it from covariates."
        )
    return levels, remap.ravel()[codes]


def _covariate_column(values: Any, name: str, out: np.ndarray | None, clean: bool) -> None:
    """Copy one numeric covariate into its column of X (``out``; None: X is a view of the
    column, only checked), checking it is finite and varies."""
    if out is None:
        x = np.asarray(values)
        if not clean and not np.isfinite(x).all():
            _numeric_copy(values, "covariate", name, clean=False)  # raises with the count
    else:
        x = _numeric_copy(values, "covariate", name, out=out, clean=clean)
    if x.size and _constant(x):
        raise DataError(
            f"Covariate {name!r} is constant ({x[0]:g}) in every row; it cannot be "
            "adjusted for and makes the design singular. Remove it from covariates."
        )


def _owner(a: np.ndarray) -> Any:
    """The object that owns an array's memory (the end of its ``base`` chain)."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def _column_major_view(values: Sequence[Any], n: int) -> np.ndarray | None:
    """A read-only column-major (n, k) view of k float64 columns that already lie side by side
    in one buffer (pandas keeps a frame's float columns as one block), or None.

    The covariate matrix then needs no copy; the view keeps the buffer's owner alive and cannot
    be written through, so the caller's table is never modified.
    """
    if not values or n == 0:
        return None
    arrs = [v for v in values if isinstance(v, np.ndarray)]
    if len(arrs) != len(values) or any(
        a.dtype != np.float64 or a.ndim != 1 or a.size != n or not a.flags.c_contiguous
        for a in arrs
    ):
        return None
    start, owner = arrs[0].ctypes.data, _owner(arrs[0])
    if owner is None or any(
        a.ctypes.data != start + j * n * 8 or _owner(a) is not owner for j, a in enumerate(arrs)
    ):
        return None
    return np.lib.stride_tricks.as_strided(
        arrs[0], shape=(n, len(arrs)), strides=(8, n * 8), writeable=False
    )


def _encode_covariates(
    df: _ColumnCache,
    covariates: Sequence[str],
    categorical: Sequence[str],
    clean: frozenset[str] = frozenset(),
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The covariate matrix (column-major, so each column is one contiguous copy, or a
    read-only view when the columns already lie that way), one-hot encoding categorical
    covariates against their first level."""
    n = df.n
    coded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    names: list[str] = []
    for name in covariates:
        s = df[name]
        if name in categorical or _is_categorical(s.dtype):
            coded[name] = _levels(s, name)
            names.extend(f"{name}[{lev}]" for lev in coded[name][0][1:])
        else:
            names.append(name)
    sources = {
        name: _numeric_source(df[name], "covariate", name)
        for name in covariates
        if name not in coded
    }
    view = None if coded else _column_major_view(list(sources.values()), n)
    X = np.empty((n, len(names)), dtype=np.float64, order="F") if view is None else view
    jobs: list[Callable[[], object]] = []
    j = 0
    for name in covariates:
        if name in coded:
            levels, codes = coded[name]
            for i in range(1, levels.size):
                jobs.append(partial(np.equal, codes, i, out=X[:, j], casting="unsafe"))
                j += 1
            continue
        out = None if view is not None else X[:, j]  # a view: check the column in place
        jobs.append(partial(_covariate_column, sources[name], name, out, name in clean))
        j += 1
    run_jobs(jobs, threaded=n * len(jobs) >= MIN_ROWS)  # one column per job; errors in order
    return X, tuple(names)


def load(
    data: Any,
    *,
    binary: Mapping[str, str | None] | None = None,
    numeric: Mapping[str, str | None] | None = None,
    keys: Mapping[str, str | None] | None = None,
    covariates: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    missing: MissingPolicy = "raise",
    nonconstant: Sequence[str] = ("outcome",),
    require_both: Sequence[str] = ("treatment",),
    min_rows: int = 2,
) -> Columns:
    """Validate and extract the columns a design needs, keyed by role.

    Args:
        data: a pandas, polars or pyarrow table (never modified).
        binary: role -> column that must be 0/1 or bool (returned as float 0.0/1.0).
        numeric: role -> column that must be numeric and finite (returned as float64).
        keys: role -> grouping column of any type (unit, cluster, cohort labels); returned as
            integer codes, with ``levels[role]`` the labels.
        covariates: columns for the design matrix ``X``; categorical ones are one-hot encoded.
        categorical: covariates to treat as categorical even if numeric.
        missing: ``"raise"`` (default) or ``"drop"`` rows with a missing value in any used column.
        nonconstant: roles that must vary (a constant outcome has no effect to estimate).
        require_both: binary roles that must contain both 0 and 1.
        min_rows: fewest rows (after dropping) the design can use.
    """
    if missing not in ("raise", "drop"):
        raise DataError(f"missing must be 'raise' or 'drop'; got {missing!r}.")
    df = to_frame(data)
    roles: dict[str, tuple[str, str]] = {}
    for kind, mapping in (("binary", binary), ("numeric", numeric), ("keys", keys)):
        for role, name in (mapping or {}).items():
            if name is not None:
                _require(df, role, name)
                roles[role] = (kind, name)
    covs = list(covariates or [])
    if len(set(covs)) != len(covs):
        raise DataError(f"covariates contain duplicates: {covs}.")
    for name in covs:
        _require(df, "covariate", name)
    if len(df) == 0:
        raise DataError("data has no rows; there is nothing to analyse.")

    used = list(dict.fromkeys([name for _, name in roles.values()] + covs))
    cols = _ColumnCache(df)
    clean = _clean_columns(cols, used)
    masks = {name: _null_mask(cols[name]) for name in used if name not in clean}
    dropped_by = {name: int(m.sum()) for name, m in masks.items() if m.any()}
    n_dropped = 0
    if dropped_by:
        summary = ", ".join(f"{k!r}: {v:,}" for k, v in dropped_by.items())
        if missing == "raise":
            raise MissingValueError(
                f"Missing values found ({summary}). Pass missing='drop' to drop those rows "
                "(the result records how many), or impute them first."
            )
        keep = ~np.logical_or.reduce(list(masks.values()))
        n_dropped = int((~keep).sum())
        warnings.warn(
            f"Dropped {n_dropped:,} of {len(df):,} rows with missing values ({summary}).",
            MissingDataWarning,
            stacklevel=3,
        )
        df = df.filter(
            nw.new_series("__keep__", keep, nw.Boolean, backend=nw.get_native_namespace(df))
        )
    if len(df) < min_rows:
        raise DataError(f"only {len(df):,} usable rows; the design needs at least {min_rows}.")
    if n_dropped:
        cols = _ColumnCache(df)  # the filtered frame

    arrays: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}
    for role, (kind, name) in roles.items():
        s = cols[name]
        if kind == "binary":
            arrays[role] = _binary(s, role, name, role in require_both)
        elif kind == "numeric":
            arrays[role] = _numeric(s, role, name, clean=name in clean)
            if role in nonconstant and _constant(arrays[role]):
                raise DataError(
                    f"{role.capitalize()} column {name!r} is constant ({arrays[role][0]:g}); "
                    "there is no variation to compare."
                )
        else:
            labels, codes = factorize(np.asarray(s.to_numpy()))
            arrays[role] = codes
            levels[role] = labels
    X, X_names = _encode_covariates(cols, covs, categorical, clean)
    return Columns(
        arrays=arrays,
        n_obs=len(df),
        n_dropped=n_dropped,
        dropped_by_column=dropped_by,
        X=X,
        X_names=X_names,
        levels=levels,
        source={role: name for role, (_, name) in roles.items()},
    )
