"""Array kernels of the local polynomial RD estimator (no dataframes here).

Kernel weights, polynomial bases, residuals for the variance (nearest-neighbour, HC0-HC3) and the
sandwich "meat" (heteroskedasticity-robust or CR1 cluster-robust), written to reproduce the
computations of the rdrobust package (Calonico, Cattaneo & Titiunik 2014, 2015; Calonico,
Cattaneo, Farrell & Titiunik 2017, 2019) step by step, vectorised so they run on millions of rows.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.linalg import cho_factor, cho_solve

Kernel = Literal["triangular", "epanechnikov", "uniform"]
Vce = Literal["nn", "hc0", "hc1", "hc2", "hc3"]

_SQRT_EPS = float(np.sqrt(np.finfo(np.float64).eps))


def kweight(x: np.ndarray, c: float, h: float, kernel: str) -> np.ndarray:
    """Kernel weight K((x - c)/h)/h with support |u| <= 1 (rdrobust's ``rdrobust_kweight``).

    Computed in place (the same operations in the same order, so the same bits).
    """
    u = x - c
    u /= h
    np.abs(u, out=u)
    inside = u <= 1
    if kernel == "uniform":
        return (0.5 * inside) / h
    _profile(u, kernel)
    u *= inside
    u /= h
    return u


def _profile(t: np.ndarray, kernel: str) -> None:
    """The triangular (1 - t) or Epanechnikov (0.75 (1 - t^2)) profile of |u|/h, in place."""
    if kernel == "epanechnikov":
        np.multiply(t, t, out=t)
        np.subtract(1, t, out=t)
        t *= 0.75
    else:
        np.subtract(1, t, out=t)


def vander(u: np.ndarray, p: int) -> np.ndarray:
    """Columns 1, u, u^2, ..., u^p built by successive multiplication.

    Stored column-major (each power contiguous), which keeps the build and the weighted
    products cache-friendly on millions of rows; the values equal rdrobust's ``_vander``.
    """
    out = np.empty((p + 1, u.size))
    out[0] = 1.0
    for j in range(1, p + 1):
        np.multiply(out[j - 1], u, out=out[j])
    return out.T


def inv_chol(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix through its Cholesky factor."""
    factor = cho_factor(a, lower=True)
    return np.asarray(cho_solve(factor, np.eye(a.shape[0])))


def inv_chol_or_pinv(a: np.ndarray) -> np.ndarray:
    """Cholesky inverse, falling back to the pseudo-inverse for a singular pilot fit."""
    try:
        return inv_chol(a)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(a))


def nn_residuals(x: np.ndarray, d: np.ndarray, matches: int) -> np.ndarray:
    """Nearest-neighbour residuals of every column of ``d`` (rows sorted by ``x``).

    Each observation is compared with the mean of its ``matches`` closest neighbours in ``x``
    (whole groups of tied values enter together, ties in distance take both sides), scaled by
    sqrt(J/(J+1)) (Abadie & Imbens 2006; rdrobust's ``vce="nn"``).
    """
    return nn_residuals_bounds(x, d, matches)[0]


def nn_residuals_bounds(
    x: np.ndarray, d: np.ndarray, matches: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`nn_residuals` and each row's neighbourhood [first, last) (itself included).

    All observations that share a value of ``x`` share their neighbourhood, so the search runs
    over distinct values, at most ``matches`` vectorised steps.
    """
    n = x.size
    d2 = d.reshape(n, -1)
    new_value = np.r_[True, x[1:] != x[:-1]]
    ties = not bool(new_value.all())
    cap = min(matches, n - 1)
    if not ties and n > 1 and np.isfinite(x[-1] - x[0]):
        lo, hi = _nn_search_distinct(x, cap)
        return nn_from_bounds(d2, slice(None), lo, hi), lo, hi + 1
    starts = np.flatnonzero(new_value) if ties else np.arange(n)
    counts = np.diff(np.r_[starts, n]) if ties else np.ones(n, dtype=np.int64)
    vals = x[starts] if ties else x
    g = vals.size
    lo = np.arange(g)
    hi = np.arange(g)
    have = counts - 1
    while True:
        active = have < cap
        if not active.any():
            break
        can_l, can_r = lo > 0, hi < g - 1
        dl = vals - vals[np.maximum(lo - 1, 0)]
        dr = vals[np.minimum(hi + 1, g - 1)] - vals
        tol = np.maximum(dl, dr) * _SQRT_EPS
        prefer_r, prefer_l = dl - dr > tol, dr - dl > tol
        go_r = active & (~can_l | (can_r & ~prefer_l))
        go_l = active & (~can_r | (can_l & ~prefer_r))
        hi = hi + go_r
        lo = lo - go_l
        if ties:
            have += np.where(go_r, counts[hi], 0) + np.where(go_l, counts[lo], 0)
        else:
            have += go_r.astype(np.int64) + go_l
    if ties:
        first = np.repeat(starts[lo], counts)
        last = np.repeat(starts[hi] + counts[hi], counts)
    else:
        first, last = lo, hi + 1
    csum = np.zeros((n + 1, d2.shape[1]))
    np.cumsum(d2, axis=0, out=csum[1:])
    window = csum[last] - csum[first] - d2
    j = (last - first - 1).astype(np.float64)[:, None]
    res = np.sqrt(j / (j + 1)) * (d2 - window / j)
    return np.asarray(res), first, last


def _nn_search_distinct(x: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour search of :func:`nn_residuals_bounds` for distinct sorted values.

    The same decisions, with the rows' positions padded by a far sentinel on each side (a
    missing neighbour is never preferred) and the count of neighbours read off hi - lo.
    """
    n = x.size
    far = 4.0 * (x[-1] - x[0]) + 1.0
    xp = np.empty(n + 2)
    xp[1:-1] = x
    xp[0], xp[-1] = x[0] - far, x[-1] + far
    lo = np.arange(n)  # row i's leftmost neighbour is x[lo] = xp[lo + 1]
    hi = lo.copy()
    dl, dr = x - xp[:-2], xp[2:] - x  # the first step's distances
    tol, diff = np.empty(n), np.empty(n)
    go_r, go_l = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    active: np.ndarray | None = None
    for step in range(cap):
        if step:
            np.take(xp, lo, out=dl)
            np.subtract(x, dl, out=dl)
            np.take(xp, hi + 2, out=dr)
            dr -= x
        np.maximum(dl, dr, out=tol)
        tol *= _SQRT_EPS
        np.subtract(dl, dr, out=diff)
        np.greater_equal(diff, -tol, out=go_r)  # not "left strictly nearer"
        np.less_equal(diff, tol, out=go_l)  # not "right strictly nearer"
        if active is not None:
            go_r &= active
            go_l &= active
        hi += go_r
        lo -= go_l
        if step + 1 < cap:
            active = (hi - lo) < cap
            if not active.any():
                break
    return lo, hi


def nn_from_bounds(d: np.ndarray, own: slice, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Residuals of the rows ``own`` of ``d`` whose neighbourhoods are rows lo..hi of ``d``
    (inclusive, the row itself included), from a cumulative sum of the centred columns."""
    n, k = d.shape
    jj = hi - lo  # number of neighbours: a few distinct values, so look the factors up
    top = int(jj.max()) if jj.size else 0
    j_tab = np.arange(top + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sf_tab = np.sqrt(j_tab / (j_tab + 1))
    j = np.take(j_tab, jj)
    sf = np.take(sf_tab, jj)
    res = np.empty((jj.size, k))
    csum = np.empty(n + 1)
    csum[0] = 0.0
    for col in range(k):
        dc = d[:, col] - d[:, col].mean()
        np.cumsum(dc, out=csum[1:])
        window = np.take(csum[1:], hi)
        window -= np.take(csum, lo)
        mine = dc[own]
        window -= mine
        window /= j
        np.subtract(mine, window, out=window)
        window *= sf
        res[:, col] = window
    return res


def hc_residuals(
    d: np.ndarray, fitted: np.ndarray, hii: np.ndarray | None, vce: str, k: int, clustered: bool
) -> np.ndarray:
    """Plug-in residuals scaled as rdrobust does for HC0-HC3 (HC1: sqrt(n/(n-k)); none if CR1)."""
    n = d.shape[0]
    res = d.reshape(n, -1) - fitted.reshape(n, -1)
    if vce == "hc0" or (vce == "hc1" and clustered):
        return res
    if vce == "hc1":
        return res * np.sqrt(n / (n - k))
    assert hii is not None  # internal invariant: hc2/hc3 always pass leverages
    lev = np.maximum(1 - hii, 1e-8)
    w = np.sqrt(1 / lev) if vce == "hc2" else 1 / lev
    return res * w[:, None]


def residuals(
    x: np.ndarray,
    d: np.ndarray,
    basis: np.ndarray,
    beta: np.ndarray,
    inv_g: np.ndarray,
    weights: np.ndarray,
    vce: str,
    nnmatch: int,
    clustered: bool,
) -> np.ndarray:
    """Residual matrix for the variance of a local fit (``basis`` columns, ``beta`` coefficients)."""
    if vce == "nn":
        return nn_residuals(x, d, nnmatch)
    fitted = basis @ beta
    hii = None
    if vce in ("hc2", "hc3"):
        hii = np.sum((basis @ inv_g) * (basis * weights[:, None]), axis=1)
    return hc_residuals(d, fitted, hii, vce, basis.shape[1], clustered)


def meat(
    rx: np.ndarray,
    res: np.ndarray,
    s: np.ndarray,
    cluster: np.ndarray | None,
    k_df: int | None = None,
) -> np.ndarray:
    """Middle of the sandwich: sum of (rx_i r_i)(rx_i r_i)' with r = res @ s, or CR1 sums.

    ``rx`` is the kernel-weighted score matrix (n x k), ``s`` combines the residual columns
    (outcome, treatment, covariates) into the residual of the estimand.
    """
    r = res @ s if res.shape[1] > 1 else res[:, 0]
    score = rx * r[:, None]
    if cluster is None:
        return np.asarray(score.T @ score)
    n, k = rx.shape
    _, codes = np.unique(cluster, return_inverse=True)
    g = int(codes.max()) + 1
    sums = np.column_stack([np.bincount(codes, weights=score[:, j], minlength=g) for j in range(k)])
    w = ((n - 1) / (n - (k if k_df is None else k_df))) * (g / (g - 1)) if g > 1 else np.nan
    return np.asarray(w * (sums.T @ sums))


_add_reduce = np.add.reduce


def _wsum(w: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """sum_i w_i cols_ij. A numpy loop, not BLAS: tall-skinny BLAS calls are no faster, and
    multi-threaded BLAS stalls badly on an oversubscribed machine."""
    return np.asarray(np.einsum("i,ij->j", w, cols))


def power_moments(weights: np.ndarray, u: np.ndarray, m_max: int, own: bool = False) -> np.ndarray:
    """sum_i weights_i u_i^m for m = 0..m_max, one pass each.

    A running power updated in place keeps memory at one extra vector (no n x k basis), which
    matters on millions of rows; ``own``: ``weights`` may be overwritten (no copy).
    """
    run = weights if own else weights.copy()
    out = np.empty(m_max + 1)
    for m in range(m_max + 1):
        out[m] = _add_reduce(run)
        if m < m_max:
            run *= u
    return out


def gram_moments(
    weights: np.ndarray,
    u: np.ndarray,
    m_max: int,
    cols: np.ndarray,
    m_cols: int,
    own: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Power moments for m <= m_max and column moments for m <= m_cols from the same passes
    (``own``: ``weights`` may be overwritten)."""
    run = weights if own else weights.copy()
    out = np.empty(m_max + 1)
    out_cols = np.empty((m_cols + 1, cols.shape[1]))
    for m in range(m_max + 1):
        out[m] = _add_reduce(run)
        if m <= m_cols:
            out_cols[m] = _wsum(run, cols)
        if m < m_max:
            run *= u
    return out, out_cols


def kweight_u(
    u: np.ndarray, h: float, kernel: str, negative: bool, out: np.ndarray | None = None
) -> np.ndarray:
    """:func:`kweight` (the same bits) from u = x - c of rows on one side of the cutoff, sorted
    by x (a new array, or into ``out``).

    On one side |u| / h is u / h or u / (-h) (IEEE division is sign-symmetric), and it is
    monotone in the row order, so its largest value is at one end: when that end is inside the
    support, so is every row and the kernel's indicator (a multiplication by one) is skipped.
    """
    t = np.divide(u, -h if negative else h, out=out)
    if t.size == 0:
        return t
    top = t[0] if negative else t[-1]
    inside = None if top <= 1 else t <= 1
    if kernel == "uniform":
        if inside is None:
            t.fill(0.5 / h)
            return t
        return np.divide(0.5 * inside, h, out=t)
    _profile(t, kernel)
    if inside is not None:
        t *= inside
    t /= h
    return t


def poly_eval(coefs: np.ndarray, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sum_k coefs[k] u^k by Horner's rule (a new array, or into ``out``)."""
    if out is None:
        out = np.empty(u.size)
    out.fill(coefs[-1])
    for cf in coefs[-2::-1]:
        out *= u
        out += cf
    return out


def hankel(mom: np.ndarray, k: int) -> np.ndarray:
    """The k x k matrix [mom[i + j]] (a Gram matrix from power moments)."""
    return np.asarray(mom[np.add.outer(np.arange(k), np.arange(k))])
