"""TWFE on an unbalanced panel with few gaps: the rows scattered into a unit x period grid.

When the unit x period grid is at most twice the number of rows and no (unit, period) repeats,
the outcome, the treatment and the observed mask are scattered into N x T grids (unit-major), and
the two-way within transformation is solved directly on blocks of units that stay in cache:

* period effects: ``(B' M_A B) gamma = B' M_A v`` (Frisch-Waugh-Lovell), a T x T system built
  from the grid (``diag(n_t) - W' diag(1/n_i) W``), solved once for the outcome and once for
  the treatment and checked to 1e-9;
* the transformed treatment ``x = W (d - alpha_i - gamma_t)`` per block, then, as in the
  balanced closed form (:mod:`truelift.did._panel`), ``X'y = sum_i P_i``, ``X'X = sum_i Q_i`` and
  the unit scores ``P_i - x_i . gamma_y - beta Q_i`` (x is orthogonal to both effects, so the
  outcome is never transformed);
* the TWFE weights of treated cells and the cohort x period counts and sums of the plot.

``None`` (the caller iterates on rows) when the grid would be large, a cell repeats, the
treatment is not absorbing, clusters cut through units, or the small system is not solved.
"""

from __future__ import annotations

import numpy as np

from truelift._parallel import map_ranges
from truelift.did._common import FeDof
from truelift.did._fe import FEFit, cr1, fe_param_count, solve_gram
from truelift.did._panel import BalancedTWFE, unit_clusters

__all__ = ["grid_twfe"]

_BLOCK = 1 << 15  # cells per block


def _first_pass(
    W: np.ndarray, Y: np.ndarray, D: np.ndarray, lo: int, hi: int
) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
    """Over units lo..hi: absorbing check; first treated period per unit; row counts and row
    sums (y, d); and the sums (period counts, y, d; W'W/n; W' r_y/n; W' r_d/n) of the small
    system, stacked in one array."""
    T = W.shape[1]
    m = (_BLOCK // T) or 1
    cols = np.arange(T)
    first = np.empty(hi - lo, dtype=np.int64)
    rows = np.empty((hi - lo, 3))  # n_i, row sum of y, row sum of d
    acc = np.zeros((T, T + 5))
    ones = np.ones(T)
    for a in range(lo, hi, m):
        b = min(a + m, hi)
        Wb, Yb = W[a:b].astype(np.float64), Y[a:b]
        on = D[a:b]
        ever = on.any(axis=1)
        f = np.where(ever, on.argmax(axis=1), T)
        if not np.array_equal(on, W[a:b] & (cols[None, :] >= f[:, None])):
            return False, first, rows, acc
        first[a - lo : b - lo] = np.where(ever, f, -1)
        Db = on.astype(np.float64)
        r = rows[a - lo : b - lo]
        r[:, 0], r[:, 1], r[:, 2] = np.dot(Wb, ones), np.dot(Yb, ones), np.dot(Db, ones)
        share = Wb / r[:, :1]
        acc[:, :T] += np.dot(share.T, Wb)
        acc[:, T] += Wb.sum(axis=0)
        acc[:, T + 1] += Yb.sum(axis=0)
        acc[:, T + 2] += Db.sum(axis=0)
        acc[:, T + 3 :] += np.dot(share.T, r[:, 1:])
    return True, first, rows, acc


def _second_pass(
    W: np.ndarray,
    Y: np.ndarray,
    D: np.ndarray,
    rows: np.ndarray,
    gamma_d: np.ndarray,
    gamma_y: np.ndarray,
    cohort: np.ndarray,
    n_cohorts: int,
    lo: int,
    hi: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit (P_i, Q_i, x_i . gamma_y); treated-cell weight sums; cohort x period counts and
    outcome sums, over units lo..hi (``rows``, ``cohort`` indexed from lo)."""
    T = W.shape[1]
    m = (_BLOCK // T) or 1
    per = np.empty((hi - lo, 3))
    wsum = np.zeros(5)  # treated cells: count, sum, negative count, negative sum, positive sum
    cells = np.zeros((2 * n_cohorts, T))
    index = np.arange(n_cohorts)[:, None]
    for a in range(lo, hi, m):
        b = min(a + m, hi)
        Wb, Yb, on = W[a:b], Y[a:b], D[a:b]
        r = rows[a - lo : b - lo]
        alpha = (r[:, 2] - np.dot(Wb.astype(np.float64), gamma_d)) / r[:, 0]
        x = on - alpha[:, None] - gamma_d[None, :]
        x *= Wb
        p = per[a - lo : b - lo]
        p[:, 0] = np.einsum("ij,ij->i", x, Yb)
        p[:, 1] = np.einsum("ij,ij->i", x, x)
        p[:, 2] = np.dot(x, gamma_y)
        xt = x[on]
        neg = xt < 0
        wsum += (xt.size, xt.sum(), neg.sum(), xt[neg].sum(), xt[~neg].sum())
        onehot = (index == cohort[a - lo : b - lo][None, :]).astype(np.float64)
        cells[:n_cohorts] += np.dot(onehot, Wb)
        cells[n_cohorts:] += np.dot(onehot, Yb)
    return per, wsum, cells


def grid_twfe(
    y: np.ndarray,
    d: np.ndarray,
    unit: np.ndarray,
    tcode: np.ndarray,
    cl: np.ndarray,
    times: np.ndarray,
    fe_dof: FeDof,
) -> BalancedTWFE | None:
    """TWFE of ``y`` on the 0/1 treatment ``d`` with unit and period effects (integer codes),
    CR1 by ``cl`` (``unit`` itself: by unit), on the unit x period grid; ``None`` when that
    does not apply (see the module docstring)."""
    N, T, n = int(unit.max()) + 1, times.size, y.size
    if 2 * n + 4096 < N * T or N < 2 or T < 2:
        return None
    pos = unit * T + tcode
    W = np.zeros((N, T), dtype=bool)
    W.ravel()[pos] = True
    if int(np.count_nonzero(W)) != n:
        return None  # a (unit, period) cell repeats
    Y, D = np.zeros((N, T)), np.zeros((N, T), dtype=bool)
    Y.ravel()[pos], D.ravel()[pos] = y, d == 1
    cl_unit = None
    if cl is not unit:
        cl_unit = unit_clusters(unit, cl, N)
        if cl_unit is None:
            return None
    first_pass = map_ranges(lambda lo, hi: _first_pass(W, Y, D, lo, hi), N, work=N * T)
    if not all(fp[0] for fp in first_pass):
        return None  # not absorbing: the general path warns
    first = np.concatenate([fp[1] for fp in first_pass])
    rows = np.concatenate([fp[2] for fp in first_pass])
    acc = np.sum([fp[3] for fp in first_pass], axis=0)
    gram = np.diag(acc[:, T]) - acc[:, :T]  # B' M_A B
    rhs = acc[:, T + 1 : T + 3] - acc[:, T + 3 :]  # B' M_A y, B' M_A d
    pinv = np.linalg.pinv(gram, rcond=1e-12, hermitian=True)
    gammas = pinv @ rhs
    scale = float(acc[:, T].max()) * max(float(y.max()), -float(y.min()), 1.0)
    if np.abs(gram @ gammas - rhs).max() > 1e-9 * scale:
        return None
    gamma_y, gamma_d = gammas[:, 0], gammas[:, 1]
    present = np.bincount(first + 1, minlength=T + 1) > 0  # cohorts: -1 (never), 0..T-1
    cohorts = np.flatnonzero(present) - 1
    cohort = (np.cumsum(present) - 1)[first + 1]
    parts = map_ranges(
        lambda lo, hi: _second_pass(
            W, Y, D, rows[lo:hi], gamma_d, gamma_y, cohort[lo:hi], cohorts.size, lo, hi
        ),
        N,
        work=N * T,
    )
    per = np.concatenate([p[0] for p in parts])
    wsum = np.sum([p[1] for p in parts], axis=0)
    cells = np.sum([p[2] for p in parts], axis=0)
    if not np.isfinite(cells.sum()):
        return None
    coef, bread = solve_gram(np.array([[per[:, 1].sum()]]), np.array([per[:, 0].sum()]))
    score = per[:, 0] - per[:, 2] - coef[0] * per[:, 1]
    clusters = np.arange(N) if cl_unit is None else cl_unit
    G = int(clusters.max()) + 1
    scores = score if cl_unit is None else np.bincount(cl_unit, weights=score, minlength=G)
    nested = fe_dof == "nested" and (
        bool(np.all(acc[:, T] == 1)) if cl_unit is None else _periods_nested(W, clusters)
    )
    K = 1 + fe_param_count([N, T], [fe_dof == "nested", nested])
    vcov, G = cr1(bread, scores[:, None], n, K)
    fit = FEFit(coef, vcov, None, None, n, K, G)
    count, total, n_neg, s_neg, s_pos = wsum
    share, neg = (
        (n_neg / count, -s_neg / total) if total > 0 else ((count - n_neg) / count, -s_pos / total)
    )
    nc = cohorts.size
    return BalancedTWFE(fit, float(share), float(neg), int(np.count_nonzero(cohorts >= 0)),
                        _cells(cohorts, cells[:nc], cells[nc:], times))  # fmt: skip


def _periods_nested(W: np.ndarray, clusters: np.ndarray) -> bool:
    """Whether every period's observed units share one cluster (fixest's nested rule)."""
    big = np.iinfo(np.int64).max
    c = clusters[:, None]
    lo = np.where(W, c, big).min(axis=0)
    hi = np.where(W, c, -1).max(axis=0)
    return bool(np.all(lo == hi))


def _cells(
    cohorts: np.ndarray, counts: np.ndarray, sums: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cohort x period cells with rows, in :func:`truelift.did.twfe.cohort_cells` order."""
    T = times.size
    f = np.repeat([np.nan if c < 0 else float(times[c]) for c in cohorts], T)
    t = np.tile(times.astype(float), cohorts.size)
    keep = counts.ravel() > 0
    return f[keep], t[keep], counts.ravel()[keep], sums.ravel()[keep]
