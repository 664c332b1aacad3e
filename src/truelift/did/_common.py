"""Shared pieces of the 2x2, TWFE and event-study estimators: option checks, O(n) coding of
integer keys, panel loading, adoption timing (absorbing or not) and the few-clusters diagnostic
(Cameron & Miller 2015: asymptotic cluster-robust tests over-reject with few clusters)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.errors import DesignError
from truelift.result import Diagnostic, Verdict

__all__ = ["FeDof", "adoption", "cluster_diagnostic", "dense_codes", "load_panel"]

FeDof = Literal["full", "nested"]
FEW_CLUSTERS = (
    30  # below: warn; asymptotic cluster-robust tests over-reject (Cameron & Miller 2015)
)
VERY_FEW_CLUSTERS = 10  # below: the asymptotic SE is unreliable; the headline is downgraded


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DesignError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}."
        )


# ----------------------------------------------------------------------------- data


def dense_codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..L-1 and sorted levels of integer-valued ``x``: O(n) when the range is
    at most a few times n (ids, weeks, years), else sort-based."""
    xi = np.asarray(x, dtype=np.int64)  # no copy when already int64
    lo, hi = int(xi.min()), int(xi.max())
    span = hi - lo + 1
    if span <= 4 * xi.size + 1024:
        off = xi - lo if lo else xi
        present = np.zeros(span, dtype=bool)
        present[off] = True
        if present.all():  # already dense (ids 0..N-1, contiguous weeks): no remapping
            return off, np.arange(lo, hi + 1)
        remap = np.cumsum(present) - 1
        return remap[off], np.flatnonzero(present) + lo
    levels, codes = np.unique(xi, return_inverse=True)
    return codes.ravel().astype(np.int64), levels


def load_panel(
    data: Any,
    *,
    keys: dict[str, str | None],
    numeric: dict[str, str | None] | None = None,
    **kwargs: Any,
) -> tuple[_frame.Columns, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`truelift._frame.load` with fast codes for integer key columns (unit, time, cluster).

    Integer keys are coded in O(n) (:func:`dense_codes`); other keys go through ``load``'s own
    coding. An integer column that comes out of the frame as a numpy integer array holds no
    missing value, so it is read as it stands, unless ``load`` drops rows (then every integer
    key goes through ``load`` as a numeric role, to be filtered with the other columns).
    Returns the columns, codes and levels per key role.
    """
    df = _frame.to_frame(data)
    fast: dict[str, str] = {}
    slow: dict[str, str | None] = {}
    for role, name in keys.items():
        if name is None:
            continue
        if isinstance(name, str) and name in df.columns and df[name].dtype.is_integer():
            fast[role] = name
        else:
            slow[role] = name
    raw = {role: np.asarray(df[name].to_numpy()) for role, name in fast.items()}
    plain = {role: a for role, a in raw.items() if a.dtype.kind in "iu" and a.ndim == 1}
    cols = _frame.load(
        data,
        numeric={**(numeric or {}), **{f"__key_{r}": fast[r] for r in fast if r not in plain}},
        keys=slow,
        **kwargs,
    )
    if plain and cols.n_dropped:  # rows were dropped: let load filter the keys too
        plain = {}
        extra = {f"__key_{role}": name for role, name in fast.items()}
        cols = _frame.load(data, numeric={**(numeric or {}), **extra}, keys=slow, **kwargs)
    codes: dict[str, np.ndarray] = {}
    levels: dict[str, np.ndarray] = {}
    for role in fast:
        key = plain[role] if role in plain else cols[f"__key_{role}"]
        codes[role], levels[role] = dense_codes(key)
    for role in slow:
        codes[role], levels[role] = cols[role], cols.levels[role]
    return cols, codes, levels


# ----------------------------------------------------------------------------- kernels


def adoption(unit: np.ndarray, tcode: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, bool]:
    """First treated period code per unit (-1 = never treated) and whether treatment is absorbing."""
    n_units = int(unit.max()) + 1
    n_periods = int(tcode.max()) + 1
    if n_units * n_periods <= 4 * unit.size + 4096:  # a unit x period table is small enough
        return _adoption_table(unit, tcode, d, n_units, n_periods)
    # fast path: if each unit's periods are contiguous, its last period is mean + (count - 1)/2
    # and, with absorbing adoption, its first treated period is last - (treated count) + 1;
    # verified below, with an exact (slower) fallback
    cnt = np.bincount(unit, minlength=n_units)
    mean_t = np.bincount(unit, weights=tcode, minlength=n_units) / np.maximum(cnt, 1)
    last = np.rint(mean_t + (cnt - 1) / 2).astype(np.int64)
    k = np.bincount(unit, weights=d, minlength=n_units).astype(np.int64)
    first = np.where(k > 0, last - k + 1, -1)
    if _adopted_match(first, unit, tcode, d):
        return first, True
    big = np.iinfo(np.int64).max
    first = np.full(n_units, big)
    np.minimum.at(first, unit[d == 1], tcode[d == 1])
    first = np.where(first == big, -1, first)
    return first, _adopted_match(first, unit, tcode, d)


def _adoption_table(
    unit: np.ndarray, tcode: np.ndarray, d: np.ndarray, n_units: int, n_periods: int
) -> tuple[np.ndarray, bool]:
    """:func:`adoption` from the unit x period counts of rows and of treated rows: the first
    treated period is the first column with a treated row; treatment is absorbing when every
    cell from there on holds treated rows only (cells before it hold none by construction)."""
    key = unit * n_periods + tcode
    size = n_units * n_periods
    rows = np.bincount(key, minlength=size).reshape(n_units, n_periods)
    treated = np.bincount(key, weights=d, minlength=size).reshape(n_units, n_periods)
    on = treated > 0
    ever = on.any(axis=1)
    first = np.where(ever, on.argmax(axis=1), -1)
    after = np.arange(n_periods)[None, :] >= np.where(ever, first, n_periods)[:, None]
    return first, bool(np.array_equal(treated, rows * after))


def _adopted_match(first: np.ndarray, unit: np.ndarray, tcode: np.ndarray, d: np.ndarray) -> bool:
    """Whether ``d`` is 1 exactly from each unit's first treated period on (never: -1)."""
    # first = -1 gives a start past every period, so never-treated units need no separate test
    start = np.where(first >= 0, first, np.iinfo(np.int64).max)[unit]
    return bool(np.array_equal(tcode >= start, d == 1))


def cluster_diagnostic(n_clusters: int, bootstrap: bool) -> Diagnostic:
    """Too few clusters for the asymptotic cluster-robust SE (Cameron & Miller 2015)."""
    verdict: Verdict
    if bootstrap:
        verdict, msg = "pass", "the wild cluster bootstrap is used for the p-value and interval."
    elif n_clusters < VERY_FEW_CLUSTERS:
        verdict = "fail"
        msg = (
            f"only {n_clusters} clusters: cluster-robust tests over-reject badly; pass "
            "wild_bootstrap=True (webb weights below ~12 clusters)."
        )
    elif n_clusters < FEW_CLUSTERS:
        verdict = "warn"
        msg = f"{n_clusters} clusters: consider wild_bootstrap=True for reliable inference."
    else:
        verdict, msg = "pass", f"{n_clusters} clusters."
    return Diagnostic(
        name="number of clusters",
        verdict=verdict,
        value=float(n_clusters),
        threshold=f">= {FEW_CLUSTERS} clusters (fail below {VERY_FEW_CLUSTERS}) or bootstrap",
        message=msg,
        consequence="downgrade",
    )
