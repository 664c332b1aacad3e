"""Per-arm moments (count, sum, sum of squared deviations) of an outcome, computed in the engine.

One query: ``GROUP BY treatment`` with counts, sums and population variances (the engine's
numerically stable variance, not sums of squares: those lose the variance to cancellation when
the outcome's mean is large next to its spread), plus the count of missing values per column;
the checks of the in-memory boundary (binary treatment, numeric outcome, missing policy) are
applied to that small table.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np

from truelift._frame import closest_columns
from truelift.engines import with_safe_names
from truelift.errors import ColumnNotFoundError, DataError, MissingDataWarning, MissingValueError

__all__ = ["ArmMoments", "arm_moments", "arm_moments_arrays"]


@dataclass(frozen=True)
class ArmMoments:
    """Counts, sums and sums of squared deviations from the arm's mean (``m2``) of the outcome
    for arms 0 and 1 (index 0 and 1)."""

    n: np.ndarray
    s: np.ndarray
    m2: np.ndarray
    n_dropped: int = 0


def arm_moments_arrays(t: np.ndarray, y: np.ndarray) -> ArmMoments:
    """The same statistics from in-memory arrays (the in-memory path): the deviations are taken
    from each arm's mean in a second pass."""
    arm = t.astype(np.int64)
    n = np.bincount(arm, minlength=2).astype(float)
    s = np.bincount(arm, weights=y, minlength=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = y - (s / n)[arm]
    return ArmMoments(n=n, s=s, m2=np.bincount(arm, weights=dev * dev, minlength=2))


def _require(schema: Any, role: str, name: str) -> None:
    if name not in schema:
        close = closest_columns(name, list(schema))
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ColumnNotFoundError(f"{role.capitalize()} column {name!r} not found.{hint}")


def arm_moments(lf: Any, *, treatment: str, outcome: str, missing: str = "raise") -> ArmMoments:
    """Per-arm moments of ``outcome`` by the 0/1 ``treatment``, aggregated inside the engine."""
    lf, names = with_safe_names(lf)
    _require(names, "treatment", treatment)
    _require(names, "outcome", outcome)
    t_col, y_col = names[treatment], names[outcome]
    dtype = lf.collect_schema()[y_col]
    if not (dtype.is_numeric() or dtype == nw.Boolean):
        raise DataError(f"Outcome column {outcome!r} must be numeric; found dtype {dtype}.")
    y = nw.col(y_col).cast(nw.Float64)
    null = nw.col(t_col).is_null() | nw.col(y_col).is_null()
    table = (
        lf.with_columns(__null=null, __y=y, __t=nw.col(t_col).cast(nw.Float64))
        .group_by("__null", "__t")
        .agg(
            nw.len().alias("n"),
            nw.col("__y").sum().alias("s"),
            nw.col("__y").var(ddof=0).alias("v"),
        )
        .collect()
    )
    if len(table) == 0:
        raise DataError("data has no rows; there is nothing to analyse.")
    nulls = np.asarray(table["__null"].to_numpy(), dtype=bool)
    arms = np.asarray(table["__t"].to_numpy(), dtype=float)
    n = np.asarray(table["n"].to_numpy(), dtype=float)
    s = np.nan_to_num(np.asarray(table["s"].to_numpy(), dtype=float))
    m2 = np.nan_to_num(np.asarray(table["v"].to_numpy(), dtype=float)) * n
    n_dropped = int(n[nulls].sum())
    if n_dropped and missing == "raise":
        raise MissingValueError(
            f"Missing values found in {treatment!r} or {outcome!r} ({n_dropped:,} rows). "
            "Pass missing='drop' to drop them (the result records how many)."
        )
    if n_dropped:
        warnings.warn(
            f"Dropped {n_dropped:,} rows with missing values in {treatment!r} or {outcome!r}.",
            MissingDataWarning,
            stacklevel=3,
        )
    keep = ~nulls
    values = sorted(set(arms[keep].tolist()))
    if any(v not in (0.0, 1.0) for v in values):
        raise DataError(
            f"Treatment column {treatment!r} must be binary (0/1 or bool); found "
            f"{len(values)} distinct values: {values[:6]}."
        )
    if len(values) < 2:
        raise DataError(
            f"Treatment column {treatment!r} has only one value; an effect needs "
            "both treated (1) and untreated (0) units."
        )
    idx = arms[keep].astype(np.int64)
    return ArmMoments(
        n=np.bincount(idx, weights=n[keep], minlength=2),
        s=np.bincount(idx, weights=s[keep], minlength=2),
        m2=np.bincount(idx, weights=m2[keep], minlength=2),
        n_dropped=n_dropped,
    )
