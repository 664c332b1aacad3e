"""From a long table to the wide arrays the synthetic-control kernels use.

Two steps, so that a warehouse table and an in-memory frame feed one kernel:

1. **cells**: one row per unit and period with the row count, the mean outcome, the treatment flag
   and the mean of every predictor column (missing predictor values ignored). A table with one row
   per unit-period passes through unchanged; user-level rows (several per unit and period) are
   averaged. :func:`cells_in_memory` computes them with numpy from a pandas / polars / pyarrow
   frame; :func:`truelift.synth._engine.cells_from_engine` with one lazy group-by inside DuckDB,
   polars or Spark (only the cells leave the engine).
2. **panel** (:func:`panel_from_cells`): a balanced unit x period matrix, one treated unit (or
   several, averaged into one treated path), a donor pool of never-treated units, and a block
   design: every treated unit starts at the same period and stays treated.

Predictors (ADH 2010; the ``Synth`` / ``pysyncon`` ``dataprep`` convention) are the per-period
means averaged over period ranges (:func:`predictor_matrix`), periods without a value ignored.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals.stable.v1 as nw
import numpy as np

from truelift import _frame
from truelift.errors import DataError, DesignError, IdentificationError, MissingDataWarning

__all__ = [
    "Cells",
    "Panel",
    "cells_in_memory",
    "panel_from_cells",
    "predictor_columns",
    "predictor_matrix",
]

PredictorSpec = Sequence["str | tuple[Any, ...]"]


@dataclass(frozen=True)
class Cells:
    """One entry per observed unit-period cell (codes into ``units`` / ``times``)."""

    units: np.ndarray
    times: np.ndarray
    ucode: np.ndarray
    tcode: np.ndarray
    n: np.ndarray  # rows behind each cell
    y: np.ndarray  # mean outcome
    d: np.ndarray | None  # treatment flag (constant within the cell)
    X: dict[str, np.ndarray]  # predictor column -> cell mean (NaN where none observed)
    n_dropped: int
    engine: str = "in-memory"
    transferred: str = "nothing (in-memory frame)"


@dataclass(frozen=True)
class Panel:
    """Wide outcome arrays: ``Y0`` donors x periods, ``Y1`` treated x periods (post from ``T0``)."""

    Y0: np.ndarray
    Y1: np.ndarray
    T0: int
    times: np.ndarray
    donors: np.ndarray
    treated: np.ndarray
    n_obs: int
    n_dropped: int
    X: dict[str, np.ndarray] = field(default_factory=dict)  # column -> (donors + treated) x T
    engine: str = "in-memory"
    transferred: str = "nothing (in-memory frame)"

    @property
    def y1(self) -> np.ndarray:
        return self.Y1.mean(axis=0)


def predictor_columns(predictors: PredictorSpec | None) -> list[str]:
    """The distinct column names used by a predictor spec, in order."""
    if predictors is None:
        return []
    cols = [item if isinstance(item, str) else item[0] for item in predictors]
    return list(dict.fromkeys(cols))


def check_constant_treatment(d_min: np.ndarray, d_max: np.ndarray, treatment: str) -> np.ndarray:
    """The per-cell treatment flag; raise if it varies within a unit-period cell."""
    varies = d_min != d_max
    if varies.any():
        raise DataError(
            f"Treatment column {treatment!r} takes both 0 and 1 within {int(varies.sum())} "
            "unit-period cell(s); synth() needs one treatment status per unit and period. "
            "Check the unit and time columns, or mark the treated unit with treated_unit= and "
            "treatment_time= instead."
        )
    return d_min


def cells_in_memory(
    data: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str | None,
    predictors: list[str],
    missing: _frame.MissingPolicy,
) -> Cells:
    """Unit-period cells of a pandas / polars / pyarrow frame (means of the rows in each cell)."""
    cols = _frame.load(
        data,
        numeric={"outcome": outcome},
        keys={"unit": unit, "time": time},
        binary={"treatment": treatment} if treatment is not None else None,
        missing=missing,
    )
    units, times = cols.levels["unit"], cols.levels["time"]
    flat = cols["unit"] * times.size + cols["time"]
    cell, inv = np.unique(flat, return_inverse=True)
    n = np.bincount(inv).astype(float)
    y = np.bincount(inv, weights=cols["outcome"]) / n
    d = None
    if treatment is not None:
        t = cols["treatment"]
        lo, hi = np.ones(cell.size), np.zeros(cell.size)
        np.minimum.at(lo, inv, t)
        np.maximum.at(hi, inv, t)
        d = check_constant_treatment(lo, hi, treatment)
    X = {}
    if predictors:
        df = _frame.to_frame(data)
        keep = _kept_rows(df, [outcome, unit, time] + ([treatment] if treatment else []))
        for col in predictors:
            vals = _predictor_values(df, col)[keep]
            ok = np.isfinite(vals)
            cnt = np.bincount(inv, weights=ok.astype(float), minlength=cell.size)
            tot = np.bincount(inv, weights=np.where(ok, vals, 0.0), minlength=cell.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                X[col] = np.where(cnt > 0, tot / np.maximum(cnt, 1.0), np.nan)
    return Cells(
        units=units,
        times=times,
        ucode=cell // times.size,
        tcode=cell % times.size,
        n=n,
        y=y,
        d=d,
        X=X,
        n_dropped=cols.n_dropped,
    )


def _kept_rows(df: Any, used: list[str]) -> np.ndarray:
    """Rows the data boundary keeps (no missing value in a used column), as in ``_frame.load``."""
    keep = np.ones(len(df), dtype=bool)
    for name in used:
        s = df[name]
        keep &= ~np.asarray(s.is_null().to_numpy(), dtype=bool)
        if s.dtype.is_float():
            keep &= ~np.asarray(s.is_nan().fill_null(True).to_numpy(), dtype=bool)
    return keep


def _predictor_values(df: Any, col: str) -> np.ndarray:
    names = list(df.columns)
    if col not in names:
        close = _frame.closest_columns(col, names)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise _frame.ColumnNotFoundError(f"Predictor column {col!r} not found.{hint}")
    s = df[col]
    if not (s.dtype.is_numeric() or s.dtype == nw.Boolean):
        raise DataError(f"Predictor column {col!r} must be numeric; found dtype {s.dtype}.")
    return np.asarray(s.cast(nw.Float64).fill_null(float("nan")).to_numpy(), dtype=float)


def _labels_match(levels: np.ndarray, wanted: Any) -> np.ndarray:
    items = list(wanted) if isinstance(wanted, (list, tuple, set, np.ndarray)) else [wanted]
    hits = np.zeros(levels.size, dtype=bool)
    for item in items:
        m = levels == item
        if not m.any():
            shown = ", ".join(map(repr, levels[:10].tolist()))
            raise DesignError(
                f"treated_unit {item!r} is not a unit in the data; units include {shown}."
            )
        hits |= m
    return hits


def _block(W: np.ndarray) -> tuple[np.ndarray, int]:
    is_treated = W.max(axis=1) > 0
    if not is_treated.any():
        raise DataError("no unit-period is marked treated; there is no treated unit.")
    first = np.argmax(W[is_treated] > 0, axis=1)
    if np.unique(first).size > 1:
        raise DesignError(
            "treated units start treatment at different periods (staggered adoption); synth() "
            "needs one common treatment time. Analyse each cohort separately or use a staggered "
            "difference-in-differences design."
        )
    t0 = int(first[0])
    if not np.all(W[is_treated, t0:] == 1):
        raise DesignError(
            "treatment switches off again for a treated unit; synth() needs treatment to stay on "
            "once it starts (a block design)."
        )
    return is_treated, t0


def panel_from_cells(
    cells: Cells,
    *,
    time: str,
    treated_unit: Any,
    treatment_time: Any,
    missing: _frame.MissingPolicy,
) -> Panel:
    """Pivot the cells to a balanced panel of donors and treated units (the shared kernel input)."""
    units, times = cells.units, cells.times
    nu, nt = units.size, times.size
    if np.ptp(cells.y) == 0:
        raise DataError("the outcome is constant over every unit and period; nothing to compare.")
    present = np.zeros((nu, nt), dtype=bool)
    present[cells.ucode, cells.tcode] = True
    rows = np.zeros(nu)
    np.add.at(rows, cells.ucode, cells.n)
    if cells.d is not None:
        W = np.zeros((nu, nt))
        W[cells.ucode, cells.tcode] = cells.d
        is_treated, t0 = _block(W)
    else:
        is_treated = _labels_match(units, treated_unit)
        try:
            t0 = int(np.searchsorted(times, treatment_time, side="left"))
        except TypeError as exc:
            raise DesignError(
                f"treatment_time {treatment_time!r} cannot be compared with the {time!r} values."
            ) from exc
    Y = np.full((nu, nt), np.nan)
    Y[cells.ucode, cells.tcode] = cells.y
    complete: np.ndarray = np.asarray(present.all(axis=1))
    n_dropped = cells.n_dropped
    if not complete[is_treated].all():
        raise DataError(
            "the treated unit has missing periods; synth() needs its full outcome path. "
            "Impute or restrict the periods first."
        )
    if not complete.all():
        if missing == "raise":
            raise DataError(
                f"{int((~complete).sum())} unit(s) lack some periods (unbalanced panel); pass "
                "missing='drop' to drop those donors, or fill the gaps first."
            )
        n_dropped += int(rows[~complete].sum())
        warnings.warn(
            f"Dropped {int((~complete).sum())} donor unit(s) with missing periods.",
            MissingDataWarning,
            stacklevel=3,
        )
    donor = complete & ~is_treated
    _check_shape(int(donor.sum()), t0, nt)
    order = np.concatenate([np.flatnonzero(donor), np.flatnonzero(is_treated)])
    X = {}
    for col, vals in cells.X.items():
        M = np.full((nu, nt), np.nan)
        M[cells.ucode, cells.tcode] = vals
        X[col] = M[order]
    return Panel(
        Y0=Y[donor],
        Y1=Y[is_treated],
        T0=t0,
        times=times,
        donors=units[donor],
        treated=units[is_treated],
        n_obs=int(rows[donor | is_treated].sum()),
        n_dropped=n_dropped,
        X=X,
        engine=cells.engine,
        transferred=cells.transferred,
    )


def _check_shape(n_donors: int, t0: int, nt: int) -> None:
    if n_donors < 2:
        raise IdentificationError(
            f"only {n_donors} donor unit(s) without treatment; a synthetic control needs at least "
            "two untreated units to weight."
        )
    if t0 < 2:
        raise DesignError(
            f"only {t0} pre-treatment period(s); a synthetic control needs at least two periods "
            "before the treatment to fit its weights."
        )
    if t0 >= nt:
        raise DesignError(
            "no period at or after the treatment time; there is no effect to estimate."
        )


def _range_mask(times: np.ndarray, spec: Any) -> np.ndarray:
    if isinstance(spec, (range, list, np.ndarray)) or (isinstance(spec, tuple) and len(spec) != 2):
        return np.isin(times, list(spec))
    if isinstance(spec, tuple):
        lo, hi = spec
        return (times >= lo) & (times <= hi)
    return times == spec


def predictor_matrix(panel: Panel, predictors: PredictorSpec) -> tuple[np.ndarray, list[str]]:
    """Predictors x (donors + treated): each predictor's mean over its periods (NaN ignored).

    A predictor is a column name (averaged over all pre-periods) or ``(column, periods)`` where
    ``periods`` is one period, a ``(first, last)`` inclusive range, or a list/range of periods.
    """
    units = np.concatenate([panel.donors, panel.treated])
    out, labels = [], []
    for item in predictors:
        col, spec = (item, None) if isinstance(item, str) else (item[0], item[1])
        M = panel.X[col]
        tmask = (
            np.arange(panel.times.size) < panel.T0
            if spec is None
            else _range_mask(panel.times, spec)
        )
        sub = M[:, tmask]
        seen = np.isfinite(sub)
        empty = ~seen.any(axis=1)
        if empty.any():
            raise DataError(
                f"predictor {col!r} has no value for unit {units[int(np.argmax(empty))]!r} in "
                f"periods {spec!r}; choose periods where every unit is observed."
            )
        out.append(np.where(seen, sub, 0.0).sum(axis=1) / seen.sum(axis=1))
        labels.append(col if spec is None else f"{col} {spec!r}")
    return np.vstack(out), labels
