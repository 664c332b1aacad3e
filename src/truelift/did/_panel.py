"""TWFE on a balanced panel stored unit by unit: closed form, two passes, no full-size temporaries.

When the rows form a balanced panel sorted by unit and then period (the usual layout of a
panel export), the outcome and treatment columns are N x T matrices as they stand, and with
one unit and one period effect the within transformation is exact in closed form:
``x - unit mean - period mean + grand mean``. With an absorbing 0/1 treatment the transformed
treatment of unit i in period t depends only on the unit's number of treated periods k_i, so
it is a small (T+1) x T table, and everything TWFE reports follows from per-unit sums:

* ``X'y = sum_i P_i`` with ``P_i = sum_t xt(k_i, t) y_it`` (the demeaned regressor is
  orthogonal to the fixed effects, so the outcome need not be demeaned);
* ``X'X = sum_k n_k q(k)``, ``q(k) = sum_t xt(k, t)^2``;
* unit scores ``P_i - r(k_i) - beta q(k_i)`` with ``r(k) = sum_t xt(k, t) ybar_t`` (each row of
  the table sums to zero, so the unit means of y drop out);
* the TWFE weights of treated cells (de Chaisemartin & D'Haultfoeuille 2020) and the cohort x
  period outcome sums of the group-means plot.

Pass one reads the keys and the treatment (layout, 0/1, absorbing), pass two the outcome;
both run over blocks of units that stay in cache, split over the worker threads (numpy releases
the GIL; :func:`truelift._parallel.map_ranges`). Anything else (unsorted or unbalanced rows, a
treatment that switches off, missing values, non-integer keys, covariates) returns ``None`` and the caller takes the general path, which
also raises the errors. The numbers equal the general path's up to floating-point rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from truelift import _frame
from truelift._parallel import map_ranges
from truelift.did._common import FeDof, dense_codes
from truelift.did._fe import FEFit, cr1, fe_param_count, solve_gram
from truelift.errors import DataError

__all__ = ["BalancedTWFE", "balanced_twfe", "reordered_twfe", "sorted_twfe", "unit_clusters"]

_BLOCK = 1 << 15  # cells per block (256 KiB of float64): blocks stay in cache


@dataclass(frozen=True)
class BalancedTWFE:
    """What twfe reports, from the closed form."""

    fit: FEFit
    share_negative: float
    negative: float
    n_cohorts: int
    cells: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def unit_clusters(unit: np.ndarray, cl: np.ndarray, N: int) -> np.ndarray | None:
    """Cluster code per unit (dense), or ``None`` when some unit's rows fall in two clusters
    (then the rows are needed)."""
    per_unit = np.empty(N, dtype=np.int64)
    per_unit[unit] = cl
    if not np.array_equal(per_unit[unit], cl):
        return None
    return dense_codes(per_unit)[0]


def _column(df: Any, name: str, kinds: str) -> np.ndarray | None:
    arr = np.asarray(df[name].to_numpy())
    return arr if arr.dtype.kind in kinds and arr.ndim == 1 else None


def _inputs(
    data: Any, outcome: str, unit: str, time: str, treatment: str, cluster: str | None
) -> tuple[np.ndarray, ...] | None:
    try:
        df = _frame.to_frame(data)
    except DataError:  # the general path raises it again, with the same message
        return None
    names = [outcome, unit, time, treatment, *([cluster] if cluster else [])]
    cols = set(df.columns)
    if any(not isinstance(c, str) or c not in cols for c in names) or len(set(names)) < len(names):
        return None
    y = _column(df, outcome, "f")
    d = _column(df, treatment, "biuf")
    u = _column(df, unit, "iu")  # integer dtypes hold no missing values
    t = _column(df, time, "iu")
    c = _column(df, cluster, "iu") if cluster else np.empty(0, dtype=np.int64)
    if y is None or d is None or u is None or t is None or c is None:
        return None
    if y.dtype != np.float64 or y.size < 4:
        return None
    return y, d, u, t, c


def _layout(u: np.ndarray, t: np.ndarray) -> tuple[int, int] | None:
    """(N, T) when the first unit's rows are followed by the others' in equal runs."""
    step = 64
    while True:
        head = u[: min(step, u.size)]
        change = np.flatnonzero(head != head[0])
        if change.size:
            T = int(change[0])
            break
        if step >= u.size:
            return None
        step *= 4
    if T < 2 or u.size % T:
        return None
    N = u.size // T
    U, V = u.reshape(N, T), t.reshape(N, T)
    ok = bool(np.all(U[1:, 0] > U[:-1, 0]) and np.array_equal(U[:, -1], U[:, 0]))
    ok = ok and bool(np.all(V[0, 1:] > V[0, :-1]))
    return (N, T) if ok and N >= 2 else None


def _check_block(
    keys: tuple[np.ndarray, np.ndarray] | None, d: np.ndarray, T: int, lo: int, hi: int
) -> tuple[bool, np.ndarray]:
    """Keys (unit, period; ``None``: known) in layout, treatment 0/1 and absorbing over units
    lo..hi; its treated counts."""
    m = (_BLOCK // T) or 1
    ones = np.ones(T)
    k = np.empty(hi - lo)
    D2 = d.reshape(-1, T)
    pattern = np.tile(keys[1][:T], m) if keys is not None else None
    for a in range(lo, hi, m):
        b = min(a + m, hi)
        df_ = d[a * T : b * T]
        if keys is not None and pattern is not None:
            uf, tf = keys[0][a * T : b * T], keys[1][a * T : b * T]
            if not (np.all(uf[1:] >= uf[:-1]) and np.array_equal(tf, pattern[: uf.size])):
                return False, k
        # rows non-decreasing: the drops of the flat column all sit at row boundaries
        drops = np.count_nonzero(df_[1:] < df_[:-1])
        if drops != np.count_nonzero(D2[a : b - 1, -1] > D2[a + 1 : b, 0]):
            return False, k
        Db = D2[a:b]
        if d.dtype.kind == "f" and not np.all((Db == 0) | (Db == 1)):
            return False, k
        np.dot(Db.astype(np.float64), ones, out=k[a - lo : b - lo])
    return True, k


def _sum_block(
    y: np.ndarray, kk: np.ndarray, table: np.ndarray, T: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit ``P_i`` and cohort x period sums of y over units lo..hi; ``kk`` indexes the
    rows of ``table`` (one per cohort present). Two small matrix products per block. A
    non-finite y gives non-finite sums without a warning: the caller checks the sums and hands
    such data to the general path, which raises."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _sum_block_raw(y, kk, table, T, lo, hi)


def _sum_block_raw(
    y: np.ndarray, kk: np.ndarray, table: np.ndarray, T: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    m = (_BLOCK // T) or 1
    Y2 = y.reshape(-1, T)
    P = np.empty(hi - lo)
    C = table.shape[0]
    S = np.zeros((C, T))
    cohorts = np.arange(C)[:, None]
    rows = np.arange(m)
    for a in range(lo, hi, m):
        b = min(a + m, hi)
        Yb, kb = Y2[a:b], kk[a:b]
        P[a - lo : b - lo] = np.dot(Yb, table.T)[rows[: b - a], kb]
        S += np.dot((cohorts == kb[None, :]).astype(np.float64), Yb)
    return P, S


def balanced_twfe(
    data: Any,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    cluster: str | None,
    fe_dof: FeDof,
) -> BalancedTWFE | None:
    """TWFE of ``outcome`` on ``treatment`` with unit and period effects, CR1 by ``cluster``
    (default: unit), in closed form; ``None`` when the data are not a clean balanced panel
    sorted by unit then period with an absorbing 0/1 treatment (see the module docstring)."""
    if cluster == unit:
        cluster = None
    got = _inputs(data, outcome, unit, time, treatment, cluster)
    if got is None:
        return None
    y, d, u, t, c = got
    shape = _layout(u, t)
    if shape is None:
        return None
    N, T = shape
    cl_unit = None
    if cluster:
        C = c.reshape(N, T)
        if not bool(np.all(C[:, :1] == C)):
            return None  # clusters cut through units: rows are needed
        cl_unit, _ = dense_codes(C[:, 0])
    return sorted_twfe(y, d, t[:T], cl_unit, fe_dof, keys=(u, t))


def reordered_twfe(
    y: np.ndarray,
    d: np.ndarray,
    unit: np.ndarray,
    tcode: np.ndarray,
    cl: np.ndarray,
    times: np.ndarray,
    fe_dof: FeDof,
) -> BalancedTWFE | None:
    """The closed form for a balanced panel in any row order (integer codes ``unit``,
    ``tcode``; clusters ``cl``, which is ``unit`` itself when clustering by unit): the rows are
    scattered into unit-major order first. ``None`` when not balanced, clusters cut through
    units or the treatment is not absorbing."""
    N, T = int(unit.max()) + 1, times.size
    if y.size != N * T or N < 2 or T < 2:
        return None
    pos = unit * T + tcode
    seen = np.zeros(N * T, dtype=bool)
    seen[pos] = True
    if not seen.all():  # some (unit, period) twice, so another missing
        return None
    ys, ds = np.empty(N * T), np.empty(N * T)
    ys[pos], ds[pos] = y, d
    cl_unit = None
    if cl is not unit:
        cl_unit = unit_clusters(unit, cl, N)
        if cl_unit is None:
            return None
    return sorted_twfe(ys, ds, times, cl_unit, fe_dof)


def sorted_twfe(
    y: np.ndarray,
    d: np.ndarray,
    times: np.ndarray,
    cl_unit: np.ndarray | None,
    fe_dof: FeDof,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
) -> BalancedTWFE | None:
    """The closed form on rows already in unit-major balanced order (``times``: the T period
    labels; ``cl_unit``: cluster code per unit, ``None`` = by unit). ``keys`` (unit, period
    columns) are checked to be in that order; ``None`` when the order is known."""
    T = times.size
    N = y.size // T
    checks = map_ranges(lambda lo, hi: _check_block(keys, d, T, lo, hi), N, work=N * T)
    if not all(ok for ok, _ in checks):
        return None
    D2 = d.reshape(N, T)
    if not (np.all(D2[:, 0] >= 0) and np.all(D2[:, -1] <= 1)):
        return None  # integer values outside 0/1
    k = np.concatenate([kb for _, kb in checks]).astype(np.int64)
    n_k = np.bincount(k, minlength=T + 1)
    if int(k.sum()) in (0, N * T):
        return None  # a single treatment value: the general path raises
    # closed-form within transformation of the treatment, as a table over k = 0..T
    on = (np.arange(T)[None, :] >= T - np.arange(T + 1)[:, None]).astype(np.float64)
    col = (n_k @ on) / N  # share treated per period
    table = on - (np.arange(T + 1) / T)[:, None] - (col - col.mean())[None, :]
    present = np.flatnonzero(n_k)  # the cohorts (by treated count) in the data
    index = np.zeros(T + 1, dtype=np.int64)
    index[present] = np.arange(present.size)
    ki = index[k]
    sums = map_ranges(lambda lo, hi: _sum_block(y, ki, table[present], T, lo, hi), N, work=N * T)
    P = np.concatenate([s[0] for s in sums])
    S = np.zeros((T + 1, T))
    S[present] = np.sum([s[1] for s in sums], axis=0)
    ysum = S.sum(axis=0)
    if not np.isfinite(ysum.sum()) or (np.ptp(y[: 4 * T]) == 0 and np.ptp(y) == 0):
        return None  # missing, infinite or constant outcome: the general path raises
    q = (table**2).sum(axis=1)
    coef, bread = solve_gram(np.array([[float(n_k @ q)]]), np.array([P.sum()]))
    r = table @ (ysum / N)
    score = P - r[k] - coef[0] * q[k]
    if cl_unit is None:
        scores, G = score[:, None], N
    else:
        G = int(cl_unit.max()) + 1
        scores = np.bincount(cl_unit, weights=score, minlength=G)[:, None]
    nested = fe_dof == "nested"
    K = 1 + fe_param_count([N, T], [nested, nested and G == 1])
    vcov, G = cr1(bread, scores, N * T, K)
    fit = FEFit(coef, vcov, None, None, N * T, K, G)
    share, neg = _weights(table, on, n_k)
    return BalancedTWFE(fit, share, neg, int(np.count_nonzero(n_k[1:])), _cells(n_k, S, times))


def _weights(table: np.ndarray, on: np.ndarray, n_k: np.ndarray) -> tuple[float, float]:
    """(share of treated rows weighted negatively, total negative weight), as in
    :func:`truelift.did.twfe.negative_weights`, from the table of treated cells."""
    treated = on * n_k[:, None]  # rows per (k, period) cell that are treated
    w = table / float((treated * table).sum())
    n_treated = treated.sum()
    return float(treated[w < 0].sum() / n_treated), float(-(treated * np.minimum(w, 0)).sum())


def _cells(
    n_k: np.ndarray, S: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cohort x period counts and outcome sums in :func:`truelift.did.twfe.cohort_cells` order:
    cohorts by first treated period (never treated first), then periods."""
    T = times.size
    present = np.flatnonzero(n_k)
    order = sorted(present.tolist(), key=lambda kk: -1 if kk == 0 else T - kk)
    f = np.repeat([np.nan if kk == 0 else float(times[T - kk]) for kk in order], T)
    tt = np.tile(times.astype(float), len(order))
    cnt = np.repeat(n_k[order].astype(float), T)
    return f, tt, cnt, S[order].ravel()
