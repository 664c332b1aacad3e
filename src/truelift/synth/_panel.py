"""From a long unit x time frame to the wide arrays the synthetic-control kernels use.

One treated unit (or several, averaged into one treated path), a donor pool of never-treated units,
a balanced panel, and a block design: every treated unit starts at the same period and stays
treated. Predictors (ADH 2010; the ``Synth`` / ``pysyncon`` ``dataprep`` convention) are columns
averaged over period ranges, missing values ignored within a range.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals.stable.v1 as nw
import numpy as np

from truelift import _frame
from truelift.errors import DataError, DesignError, IdentificationError, MissingDataWarning

__all__ = ["Panel", "build_panel", "predictor_matrix"]

PredictorSpec = Sequence["str | tuple[Any, ...]"]


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

    @property
    def y1(self) -> np.ndarray:
        return self.Y1.mean(axis=0)


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


def _block(treat: np.ndarray, ucode: np.ndarray, tcode: np.ndarray, nu: int, nt: int) -> Any:
    W = np.zeros((nu, nt))
    W[ucode, tcode] = treat
    is_treated = W.max(axis=1) > 0
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


def build_panel(
    data: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str | None,
    treated_unit: Any,
    treatment_time: Any,
    missing: _frame.MissingPolicy,
) -> Panel:
    """Validate the columns and pivot to a balanced panel of donors and treated units."""
    if treatment is None and (treated_unit is None or treatment_time is None):
        raise DesignError(
            "say which unit is treated and when: pass treatment= (a 0/1 column marking the "
            "treated unit's post-launch periods) or both treated_unit= and treatment_time=."
        )
    cols = _frame.load(
        data,
        numeric={"outcome": outcome},
        keys={"unit": unit, "time": time},
        binary={"treatment": treatment} if treatment is not None else None,
        missing=missing,
    )
    y, ucode, tcode = cols["outcome"], cols["unit"], cols["time"]
    units, times = cols.levels["unit"], cols.levels["time"]
    nu, nt = units.size, times.size
    counts = np.zeros((nu, nt), dtype=np.int64)
    np.add.at(counts, (ucode, tcode), 1)
    if counts.max() > 1:
        raise DataError(
            f"{int((counts > 1).sum())} unit-period cells appear more than once; synth() needs one "
            "row per unit and period. Aggregate the data first (e.g. the mean per unit and period)."
        )
    if treatment is not None:
        is_treated, t0 = _block(cols["treatment"], ucode, tcode, nu, nt)
    else:
        is_treated = _labels_match(units, treated_unit)
        try:
            t0 = int(np.searchsorted(times, treatment_time, side="left"))
        except TypeError as exc:
            raise DesignError(
                f"treatment_time {treatment_time!r} cannot be compared with the {time!r} values."
            ) from exc
    Y = np.full((nu, nt), np.nan)
    Y[ucode, tcode] = y
    complete = counts.min(axis=1) == 1
    n_dropped = cols.n_dropped
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
        n_dropped += int(counts[~complete].sum())
        warnings.warn(
            f"Dropped {int((~complete).sum())} donor unit(s) with missing periods.",
            MissingDataWarning,
            stacklevel=3,
        )
    donor = complete & ~is_treated
    _check_shape(int(donor.sum()), t0, nt)
    return Panel(
        Y0=Y[donor],
        Y1=Y[is_treated],
        T0=t0,
        times=times,
        donors=units[donor],
        treated=units[is_treated],
        n_obs=int(counts[donor | is_treated].sum()),
        n_dropped=n_dropped,
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
        wanted = list(spec)
        return np.isin(times, wanted)
    if isinstance(spec, tuple):
        lo, hi = spec
        return (times >= lo) & (times <= hi)
    return times == spec


def predictor_matrix(
    data: Any,
    *,
    predictors: PredictorSpec,
    unit: str,
    time: str,
    units: np.ndarray,
    pre_times: np.ndarray,
) -> tuple[np.ndarray, list[str]]:
    """Predictors x units matrix: each predictor's mean over its periods (NaN ignored).

    A predictor is a column name (averaged over all pre-periods) or ``(column, periods)`` where
    ``periods`` is one period, a ``(first, last)`` inclusive range, or a list/range of periods.
    """
    df = _frame.to_frame(data)
    names = list(df.columns)
    uvals = np.asarray(df[unit].to_numpy())
    tvals = np.asarray(df[time].to_numpy())
    out, labels = [], []
    for item in predictors:
        col, spec = (item, None) if isinstance(item, str) else (item[0], item[1])
        if col not in names:
            close = _frame.closest_columns(col, names)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise _frame.ColumnNotFoundError(f"Predictor column {col!r} not found.{hint}")
        s = df[col]
        if not s.dtype.is_numeric():
            raise DataError(f"Predictor column {col!r} must be numeric; found dtype {s.dtype}.")
        vals = np.asarray(s.cast(nw.Float64).fill_null(float("nan")).to_numpy(), dtype=float)
        tmask = np.isin(tvals, pre_times) if spec is None else _range_mask(tvals, spec)
        row = np.empty(units.size)
        for k, u in enumerate(units):
            v = vals[tmask & (uvals == u)]
            v = v[np.isfinite(v)]
            if v.size == 0:
                raise DataError(
                    f"predictor {col!r} has no value for unit {u!r} in periods {spec!r}; choose "
                    "periods where every unit is observed."
                )
            row[k] = v.mean()
        out.append(row)
        labels.append(col if spec is None else f"{col} {spec!r}")
    return np.vstack(out), labels
