"""A lazy table prepared for the propensity designs: validation and design columns in the engine.

:func:`prepare` checks the columns with one aggregation (missing values per column, a binary
treatment with both arms, finite and non-constant outcome and covariates), reads the levels of
each categorical covariate, and derives the design as column expressions: ``__t``, ``__y``,
``__x0..`` (categorical covariates one-hot against their first level, alphabetical, as
:func:`truelift._frame.load` encodes them), ``__r0..`` (the reference levels, for the balance
table) and ``__g`` (cluster labels). Nothing but counts, sums and level names leaves the engine;
each aggregation is logged for ``details["transferred"]``. Column names reach the engine only as
column references (Spark: positional renames; :func:`truelift.engines.with_safe_names`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np

from truelift._frame import closest_columns
from truelift.engines import engine_name, with_safe_names
from truelift.errors import ColumnNotFoundError, DataError, MissingDataWarning, MissingValueError

__all__ = ["Table", "collect", "prepare"]


def _is_categorical(dtype: Any) -> bool:
    """String-like columns are categorical covariates (as in :func:`truelift._frame.load`)."""
    return bool(dtype.base_type() in (nw.String, nw.Categorical, nw.Enum, nw.Object))


_MAX_LEVELS = 1_000


def collect(lf: Any, columns: Sequence[str]) -> Any:
    """Rows of ``columns`` from a lazy table as a native eager frame (original names kept)."""
    safe_lf, names = with_safe_names(lf)
    needed = list(dict.fromkeys(columns))
    for name in needed:
        _require(names, "column", name)
    out = safe_lf.select([nw.col(names[c]) for c in needed]).collect()
    return out.rename({names[c]: c for c in needed}).to_native()


def _require(names: dict[str, str], role: str, name: str) -> None:
    if not isinstance(name, str) or name not in names:
        close = closest_columns(str(name), list(names))
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ColumnNotFoundError(f"{role.capitalize()} column {name!r} not found.{hint}")


def _f(v: Any) -> float:
    return float(v) if v is not None else 0.0


@dataclass
class Table:
    """A lazy table with the design's columns derived as engine expressions (rows kept there).

    Derived columns: ``__t`` (0/1), ``__y``, ``__x0..`` (the design matrix without intercept),
    ``__r0..`` (reference-level dummies, for the balance table) and ``__g`` (cluster labels).
    """

    lf: Any
    engine: str
    x_names: tuple[str, ...]
    balance: list[tuple[str, str]]  # (covariate level, derived column)
    covariates: tuple[str, ...]
    n_obs: int
    n_dropped: int
    n_treated: int
    y_binary: bool
    y_sd: float
    has_cluster: bool
    log: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.x_names)

    def xs(self) -> list[Any]:
        return [nw.col(f"__x{j}") for j in range(self.k)]

    def one(self, aggs: list[Any], what: str, lf: Any = None) -> list[float]:
        """One aggregation (a single row) of ``aggs``; logs what left the engine."""
        named = [a.alias(f"__a{i}") for i, a in enumerate(aggs)]
        row = (self.lf if lf is None else lf).select(*named).collect().rows()[0]
        self.log.append(what)
        return [_f(v) for v in row]

    def grouped(self, key: str, aggs: list[Any], what: str, lf: Any = None) -> Any:
        """One grouped aggregation; returns the small table as numpy columns keyed by name."""
        named = [a.alias(f"__a{i}") for i, a in enumerate(aggs)]
        out = (self.lf if lf is None else lf).group_by(key).agg(*named).collect()
        self.log.append(f"{what} ({len(out):,} rows)")
        return out


def _check_schema(
    schema: Any, names: dict[str, str], roles: dict[str, str], covs: list[str]
) -> list[str]:
    """Validate dtypes; return the categorical covariates."""
    for role in ("treatment", "outcome"):
        if role in roles:
            dtype = schema[names[roles[role]]]
            if not (dtype.is_numeric() or dtype == nw.Boolean):
                raise DataError(
                    f"{role.capitalize()} column {roles[role]!r} must be "
                    f"{'binary (0/1 or bool)' if role == 'treatment' else 'numeric'}; "
                    f"found dtype {dtype}."
                )
    cats = []
    for c in covs:
        dtype = schema[names[c]]
        if _is_categorical(dtype):
            cats.append(c)
        elif not (dtype.is_numeric() or dtype == nw.Boolean):
            raise DataError(
                f"Covariate column {c!r} must be numeric or categorical; found {dtype}."
            )
    return cats


def _missing_rows(lf: Any, names: dict[str, str], used: list[str], schema: Any) -> Any:
    parts = []
    for c in used:
        col = nw.col(names[c])
        parts.append(col.is_null() | col.is_nan() if schema[names[c]].is_float() else col.is_null())
    return parts


def prepare(
    data_lf: Any,
    *,
    treatment: str,
    outcome: str | None,
    covariates: list[str],
    cluster: str | None,
    missing: str,
) -> Table:
    """Validate the columns inside the engine and derive the design's expressions."""
    if missing not in ("raise", "drop"):
        raise DataError(f"missing must be 'raise' or 'drop'; got {missing!r}.")
    lf, names = with_safe_names(data_lf)
    roles = {"treatment": treatment, **({"outcome": outcome} if outcome is not None else {})}
    roles.update({"cluster": cluster} if cluster is not None else {})
    for role, name in roles.items():
        _require(names, role, name)
    if len(set(covariates)) != len(covariates):
        raise DataError(f"covariates contain duplicates: {covariates}.")
    for c in covariates:
        _require(names, "covariate", c)
    schema = lf.collect_schema()
    cats = _check_schema(schema, names, roles, covariates)
    used = list(dict.fromkeys([*roles.values(), *covariates]))
    nulls = _missing_rows(lf, names, used, schema)
    t = nw.col(names[treatment]).cast(nw.Float64)
    y = nw.col(names[outcome]).cast(nw.Float64) if outcome is not None else nw.lit(0.0)
    nums = [c for c in covariates if c not in cats]
    aggs = [nw.len(), *[m.cast(nw.Float64).sum() for m in nulls]]
    null_any = nw.any_horizontal(*nulls, ignore_nulls=False)
    ok = ~null_any
    w_ok = ok.cast(nw.Float64)
    aggs += [(w_ok * t).sum(), (ok & (t != 0) & (t != 1)).cast(nw.Float64).sum()]
    aggs += [(w_ok * y).sum(), (w_ok * y * y).sum()]
    aggs += [(ok & (y != 0) & (y != 1)).cast(nw.Float64).sum()]
    aggs += [(ok & ~y.is_finite()).cast(nw.Float64).sum()]
    for c in nums:
        x = nw.col(names[c]).cast(nw.Float64)
        aggs += [nw.when(ok).then(x).min(), nw.when(ok).then(x).max()]
        aggs += [(ok & ~x.is_finite()).cast(nw.Float64).sum()]
    tab = Table(lf, engine_name(data_lf), (), [], tuple(covariates), 0, 0, 0, False, 0.0, False)
    vals = tab.one(aggs, "validation counts (1 row)")
    n_all = round(vals[0])
    null_by = {c: round(v) for c, v in zip(used, vals[1 : 1 + len(used)], strict=True) if v}
    rest = vals[1 + len(used) :]
    n_t, n_bad_t, sy, syy, n_nonbin_y, n_inf_y = rest[:6]
    n_dropped = _apply_missing(lf, null_any, null_by, missing, n_all, tab)
    n = n_all - n_dropped
    if n < 2:
        raise DataError(f"only {n:,} usable rows; the design needs at least 2.")
    _check_values(treatment, outcome, n, n_t, n_bad_t, n_inf_y, sy, syy)
    mins = rest[6:]
    for i, c in enumerate(nums):
        lo, hi, n_inf = mins[3 * i : 3 * i + 3]
        if n_inf:
            raise DataError(f"Covariate column {c!r} has {round(n_inf):,} infinite value(s).")
        if lo == hi:
            raise DataError(
                f"Covariate {c!r} is constant ({lo:g}) in every row; it cannot be adjusted "
                "for and makes the design singular. Remove it from covariates."
            )
    kept = lf.filter(ok)
    levels = {c: _levels(kept, names[c], c, tab) for c in cats}
    derived, x_names, balance = _derive(names, covariates, levels)
    derived["__t"] = t
    if outcome is not None:
        derived["__y"] = y
    if cluster is not None:
        derived["__g"] = nw.col(names[cluster])
    tab.lf = kept.select(**derived)
    tab.x_names, tab.balance = tuple(x_names), balance
    tab.n_obs, tab.n_dropped, tab.n_treated = n, n_dropped, round(n_t)
    tab.y_binary = n_nonbin_y == 0
    tab.y_sd = float(np.sqrt(max(syy / n - (sy / n) ** 2, 0.0)))
    tab.has_cluster = cluster is not None
    return tab


def _apply_missing(
    lf: Any, null_any: Any, null_by: dict[str, int], missing: str, n_all: int, tab: Table
) -> int:
    if n_all == 0:
        raise DataError("data has no rows; there is nothing to analyse.")
    if not null_by:
        return 0
    summary = ", ".join(f"{k!r}: {v:,}" for k, v in null_by.items())
    if missing == "raise":
        raise MissingValueError(
            f"Missing values found ({summary}). Pass missing='drop' to drop those rows "
            "(the result records how many), or impute them first."
        )
    n_dropped = round(
        tab.one([null_any.cast(nw.Float64).sum()], "missing-row count (1 row)", lf)[0]
    )
    warnings.warn(
        f"Dropped {n_dropped:,} of {n_all:,} rows with missing values ({summary}).",
        MissingDataWarning,
        stacklevel=5,
    )
    return n_dropped


def _check_values(
    treatment: str,
    outcome: str | None,
    n: int,
    n_t: float,
    n_bad_t: float,
    n_inf_y: float,
    sy: float,
    syy: float,
) -> None:
    if n_bad_t:
        raise DataError(
            f"Treatment column {treatment!r} must be binary (0/1 or bool); found "
            f"{round(n_bad_t):,} rows with other values."
        )
    if n_t in (0, n):
        raise DataError(
            f"Treatment column {treatment!r} has only one value in all {n:,} rows; an effect "
            "needs both treated (1) and untreated (0) units."
        )
    if outcome is None:
        return
    if n_inf_y:
        raise DataError(
            f"Outcome column {outcome!r} has {round(n_inf_y):,} infinite value(s); infinite "
            "values cannot be analysed. Fix or remove those rows."
        )
    if syy / n - (sy / n) ** 2 <= 1e-14 * max(1.0, (sy / n) ** 2):
        raise DataError(
            f"Outcome column {outcome!r} is constant ({sy / n:g}); there is no variation to compare."
        )


def _levels(kept: Any, col: str, name: str, tab: Table) -> list[str]:
    out = kept.select(nw.col(col).cast(nw.String).alias("__v")).unique().collect()
    values = sorted(str(v) for v in out["__v"].to_list())
    tab.log.append(f"levels of {name!r} ({len(values):,} values)")
    if len(values) < 2:
        raise DataError(
            f"Covariate {name!r} takes a single value ({values[0]!r}) in every row; "
            "it carries no information. Remove it from covariates."
        )
    if len(values) > _MAX_LEVELS:
        raise DataError(
            f"Covariate {name!r} has {len(values):,} levels; one-hot encoding more than "
            f"{_MAX_LEVELS:,} inside the engine is not supported. Coarsen it first."
        )
    return values


def _derive(
    names: dict[str, str], covariates: list[str], levels: dict[str, list[str]]
) -> tuple[dict[str, Any], list[str], list[tuple[str, str]]]:
    derived: dict[str, Any] = {}
    x_names: list[str] = []
    balance: list[tuple[str, str]] = []
    for c in covariates:
        col = nw.col(names[c])
        if c in levels:
            ref = f"__r{len([b for b in balance if b[1].startswith('__r')])}"
            derived[ref] = (col.cast(nw.String) == levels[c][0]).cast(nw.Float64)
            balance.append((f"{c}[{levels[c][0]}]", ref))
            for lev in levels[c][1:]:
                key = f"__x{len(x_names)}"
                derived[key] = (col.cast(nw.String) == lev).cast(nw.Float64)
                x_names.append(f"{c}[{lev}]")
                balance.append((x_names[-1], key))
        else:
            key = f"__x{len(x_names)}"
            derived[key] = col.cast(nw.Float64)
            x_names.append(c)
            balance.append((c, key))
    return derived, x_names, balance
