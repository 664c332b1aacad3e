"""Compiled loops (numba) for the row passes of the in-memory RD path.

numpy evaluates a row pass one operation at a time over whole vectors; the nearest-neighbour
search and the kernel-weighted power sums are short per-row recurrences that numpy can only
express as many passes over memory. Here each is one loop over the rows. The arithmetic per row
is rdrobust's; only the order in which sums over rows are accumulated may differ from a numpy
reduction (rounding, ~1e-15 relative).

The module is imported on first use (numba's import costs ~0.4 s), and the compiled code is
cached on disk (``cache=True``), so only the first call on a machine compiles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

__all__ = ["kernel_sums", "nn_residuals"]

_SQRT_EPS = math.sqrt(float(np.finfo(np.float64).eps))


@njit(cache=True, nogil=True, error_model="numpy")
def _scaled(
    x: np.ndarray,
    d: np.ndarray,
    x_scale: float,
    y_scale: float,
    pad: int,
    v: np.ndarray,
    w: np.ndarray,
) -> bool:
    """v[pad + i] = x[i] / x_scale and w[pad + i] = d[i, 0] / y_scale, the pads far beyond the
    ends (v) or zero (w); True when all values of v are distinct."""
    n = x.size
    distinct = True
    for i in range(n):
        v[pad + i] = x[i] / x_scale
        w[pad + i] = d[i, 0] / y_scale
        if i and v[pad + i] == v[pad + i - 1]:
            distinct = False
    far = 4.0 * (v[pad + n - 1] - v[pad]) + 1.0
    for a in range(1, pad + 1):
        v[pad - a] = v[pad] - a * far
        v[pad + n - 1 + a] = v[pad + n - 1] + a * far
        w[pad - a] = 0.0
        w[pad + n - 1 + a] = 0.0
    return distinct


@njit(cache=True, nogil=True, error_model="numpy")
def _nn_counts(v: np.ndarray, matches: int, n_left: np.ndarray, near: np.ndarray) -> None:
    """For distinct sorted values (``v`` padded by ``matches`` on each side): how many of each
    row's J = ``matches`` neighbours lie to its left, and whether to search it step by step.

    The stepwise search (take the nearer of the next left and right values, both on a near
    tie) takes the a-th left neighbour iff it is nearer than the (J + 1 - a)-th right one,
    whenever none of these J final pairs is a near tie: a near tie at an earlier step takes
    two candidates that this count takes too. So the count comes from J independent
    comparisons; rows with a near tie in a final pair are flagged in ``near``.
    """
    n = n_left.size
    jm = matches
    if jm == 3:  # the default, unrolled (no loop-carried branches)
        for i in range(n):
            here = v[3 + i]
            l1, l2, l3 = here - v[2 + i], here - v[1 + i], here - v[i]
            r1, r2, r3 = v[4 + i] - here, v[5 + i] - here, v[6 + i] - here
            d1, d2, d3 = l1 - r3, l2 - r2, l3 - r1
            near[i] = (
                (abs(d1) <= max(l1, r3) * _SQRT_EPS)
                | (abs(d2) <= max(l2, r2) * _SQRT_EPS)
                | (abs(d3) <= max(l3, r1) * _SQRT_EPS)
            )
            n_left[i] = (d1 < 0.0) + (d2 < 0.0) + (d3 < 0.0)
        return
    for i in range(n):
        here = v[jm + i]
        nl = 0
        flag = False
        for a in range(1, jm + 1):
            dl = here - v[jm + i - a]
            dr = v[jm + i + jm + 1 - a] - here
            dd = dl - dr
            flag |= abs(dd) <= max(dl, dr) * _SQRT_EPS
            nl += dd < 0.0
        near[i] = flag
        n_left[i] = nl


@njit(cache=True, nogil=True, error_model="numpy")
def _nn_from_counts(
    w: np.ndarray,
    d: np.ndarray,
    matches: int,
    n_left: np.ndarray,
    near: np.ndarray,
    out: np.ndarray,
) -> None:
    """Residuals of the rows not flagged ``near`` from their neighbours' counts: rows
    i - n_left .. i + J - n_left. The outcome's sum multiplies by 0 or 1 instead of branching
    (the counts are as random as the data: a mispredicted branch per row costs more than the
    row's arithmetic); ``w`` is the outcome padded by J zeros on each side."""
    n = n_left.size
    k = d.shape[1]
    jm = matches
    sf = math.sqrt(jm / (jm + 1))
    for i in range(n):
        nl = n_left[i]
        acc = 0.0
        for a in range(1, jm + 1):
            acc += w[jm + i - a] * (a <= nl) + w[jm + i + a] * (a <= jm - nl)
        out[i, 0] = sf * (w[jm + i] - acc / jm)
    for c in range(1, k):
        for i in range(n):
            if near[i]:
                continue
            nl = n_left[i]
            acc = 0.0
            for r in range(i - nl, i + jm - nl + 1):
                acc += d[r, c]
            out[i, c] = sf * (d[i, c] - (acc - d[i, c]) / jm)


@njit(cache=True, nogil=True, error_model="numpy")
def _nn_groups(
    v: np.ndarray,
    w: np.ndarray,
    d: np.ndarray,
    pad: int,
    matches: int,
    rows: np.ndarray,
    n_rows: int,
    starts: np.ndarray,
    out: np.ndarray,
) -> None:
    """The stepwise search, for the groups of tied values that hold the listed rows (all
    groups when ``n_rows`` < 0); ``v``, ``w`` padded by ``pad``."""
    n = out.shape[0]
    k = d.shape[1]
    ng = 0
    for i in range(n):
        if i == 0 or v[pad + i] != v[pad + i - 1]:
            starts[ng] = i
            ng += 1
    starts[ng] = n
    cap = min(matches, n - 1)
    sums = np.empty(k)
    todo = ng if n_rows < 0 else n_rows
    g = 0
    done = -1
    for t in range(todo):
        if n_rows < 0:
            g = t
        else:  # the group of row rows[t] (rows are listed in increasing order)
            while starts[g + 1] <= rows[t]:
                g += 1
            if g == done:
                continue
            done = g
        lo = g
        hi = g
        have = starts[g + 1] - starts[g] - 1
        here = v[pad + starts[g]]
        while have < cap:
            if lo == 0:
                hi += 1
                have += starts[hi + 1] - starts[hi]
            elif hi == ng - 1:
                lo -= 1
                have += starts[lo + 1] - starts[lo]
            else:
                dl = here - v[pad + starts[lo - 1]]
                dr = v[pad + starts[hi + 1]] - here
                tol = (dl if dl > dr else dr) * _SQRT_EPS
                if dl - dr > tol:  # the right one is nearer
                    hi += 1
                    have += starts[hi + 1] - starts[hi]
                elif dr - dl > tol:
                    lo -= 1
                    have += starts[lo + 1] - starts[lo]
                else:  # a tie in distance: both
                    hi += 1
                    have += starts[hi + 1] - starts[hi]
                    lo -= 1
                    have += starts[lo + 1] - starts[lo]
        first, last = starts[lo], starts[hi + 1]
        j = last - first - 1
        sf = math.sqrt(j / (j + 1))
        sums[0] = 0.0
        for r in range(first, last):
            sums[0] += w[pad + r]
        for c in range(1, k):
            acc = 0.0
            for r in range(first, last):
                acc += d[r, c]
            sums[c] = acc
        for i in range(starts[g], starts[g + 1]):
            out[i, 0] = sf * (w[pad + i] - (sums[0] - w[pad + i]) / j)
            for c in range(1, k):
                out[i, c] = sf * (d[i, c] - (sums[c] - d[i, c]) / j)


def nn_residuals(
    x: np.ndarray,
    d: np.ndarray,
    matches: int,
    x_scale: float = 1.0,
    y_scale: float = 1.0,
) -> np.ndarray:
    """Nearest-neighbour residuals (n x k) of the columns of ``d`` (n x k), rows sorted by x.

    Each row is compared with the mean of its ``matches`` nearest neighbours on x / x_scale
    (groups of tied values enter whole, a tie in distance within a relative sqrt(eps) takes
    both sides), scaled by sqrt(J/(J+1)) (Abadie & Imbens 2006; rdrobust's ``vce="nn"``).
    Column 0 (the outcome) is divided by y_scale; the others (treatment, covariates) are not.
    """
    n = x.size
    d = np.ascontiguousarray(np.asarray(d, dtype=np.float64).reshape(n, -1))
    out = np.empty(d.shape)
    if n == 0:
        return out
    if n == 1:  # no neighbour: rdrobust's 0/0
        out[:] = np.nan
        return out
    pad = int(matches)
    # scratch allocated by numpy, which asks for huge pages (fewer page faults than numba's)
    v, w = np.empty(n + 2 * pad), np.empty(n + 2 * pad)
    x = np.ascontiguousarray(x, dtype=np.float64)
    distinct = _scaled(x, d, float(x_scale), float(y_scale), pad, v, w)
    starts = np.empty(n + 1, dtype=np.int64)
    if distinct and matches <= n - 1:
        n_left = np.empty(n, dtype=np.int64)
        near = np.empty(n, dtype=np.bool_)
        _nn_counts(v, pad, n_left, near)
        _nn_from_counts(w, d, pad, n_left, near, out)
        redo = np.flatnonzero(near)
        if redo.size:
            _nn_groups(v, w, d, pad, pad, redo, redo.size, starts, out)
    else:
        _nn_groups(v, w, d, pad, pad, starts[:0], -1, starts, out)
    return out


_BLOCK = 256  # rows per block: the block's weights and powers stay in L1


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _horner(coefs: np.ndarray, uu: np.ndarray, n: int, q: np.ndarray) -> None:
    """q[t] = sum_m coefs[m] uu[t]^m for t < n (Horner's rule, one loop over the block per
    coefficient)."""
    top = coefs.size - 1
    for t in range(n):
        q[t] = coefs[top]
    for m in range(top - 1, -1, -1):
        cm = coefs[m]
        for t in range(n):
            q[t] = q[t] * uu[t] + cm


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"}, error_model="numpy")
def _product_sums(
    x: np.ndarray,
    d: np.ndarray,
    d_scale: np.ndarray,
    res: np.ndarray,
    lo: int,
    hi: int,
    a: int,
    x_scale: float,
    c: float,
    kcode: int,
    negative: bool,
    kerns: np.ndarray,
    polys: np.ndarray,
    col_factors: np.ndarray,
    rmode: int,
    n_resid: int,
    s: np.ndarray,
    rcoefs: np.ndarray,
    scale: float,
    codes: np.ndarray,
    m_max: int,
    m_cols: int,
    out: np.ndarray,
    out_c: np.ndarray,
) -> None:
    k = d.shape[1]
    p = np.empty(_BLOCK)
    q = np.empty(_BLOCK)
    qc = np.empty((k, _BLOCK))
    uu = np.empty(_BLOCK)
    out[:] = 0.0
    out_c[:] = 0.0
    by_cluster = codes.size > 0  # codes: the cluster codes of rows lo..hi, or none
    # each step a loop over the block without branches (vectorised)
    for s0 in range(lo, hi, _BLOCK):
        e = min(s0 + _BLOCK, hi)
        n = e - s0
        for t in range(n):
            uu[t] = x[s0 + t] / x_scale - c
            p[t] = 1.0
        for h in kerns:  # kernel weights K((x - c) / h) / h, as kweight
            hs = -h if negative else h
            if kcode == 2:
                for t in range(n):
                    p[t] *= (0.5 * (1.0 if uu[t] / hs <= 1.0 else 0.0)) / h
            elif kcode == 1:
                for t in range(n):
                    tt = uu[t] / hs
                    p[t] *= ((1.0 - tt * tt) * 0.75 * (1.0 if tt <= 1.0 else 0.0)) / h
            else:
                for t in range(n):
                    tt = uu[t] / hs
                    p[t] *= ((1.0 - tt) * (1.0 if tt <= 1.0 else 0.0)) / h
        for j in range(polys.shape[0]):  # polynomials in u, trailing zeros padded
            _horner(polys[j], uu, n, q)
            for t in range(n):
                p[t] *= q[t]
        for j in col_factors:  # outcome columns
            for t in range(n):
                p[t] *= d[s0 + t, j] / d_scale[j]
        if n_resid:
            if rmode == 1:  # the plug-in residual (d s - poly(u)) * scale
                _horner(rcoefs, uu, n, q)
                for t in range(n):
                    r = 0.0
                    for j in range(k):
                        r += (d[s0 + t, j] / d_scale[j]) * s[j]
                    q[t] = (r - q[t]) * scale
            else:  # the nearest-neighbour residuals (d s) of the window starting at row a
                for t in range(n):
                    r = 0.0
                    for j in range(k):
                        r += res[s0 + t - a, j] * s[j]
                    q[t] = r
            for _ in range(n_resid):
                for t in range(n):
                    p[t] *= q[t]
        if by_cluster:
            for t in range(n):
                g = codes[s0 + t - lo]
                pw = p[t]
                for m in range(m_max + 1):
                    out[g, m] += pw
                    pw *= uu[t]
            continue
        if m_cols >= 0:
            for j in range(k):
                for t in range(n):
                    qc[j, t] = p[t] * (d[s0 + t, j] / d_scale[j])
        for m in range(m_max + 1):
            acc = 0.0
            for t in range(n):
                acc += p[t]
                p[t] *= uu[t]
            out[0, m] += acc
            if m <= m_cols:
                for j in range(k):
                    acc = 0.0
                    for t in range(n):
                        acc += qc[j, t]
                        qc[j, t] *= uu[t]
                    out_c[m, j] += acc


_KCODE = {"triangular": 0, "epanechnikov": 1, "uniform": 2}
_NONE = np.empty(0, dtype=np.int64)


def kernel_sums(
    x: np.ndarray,
    d: np.ndarray,
    lo: int,
    hi: int,
    *,
    x_scale: float,
    d_scale: np.ndarray,
    c: float,
    kernel: str,
    negative: bool,
    kerns: tuple[float, ...],
    polys: tuple[tuple[float, ...], ...] = (),
    cols: tuple[int, ...] = (),
    residual: tuple[tuple[float, ...], tuple[float, ...], float] | None = None,
    n_resid: int = 0,
    nn: tuple[np.ndarray, int] | None = None,
    codes: tuple[np.ndarray, int] | None = None,
    m_max: int,
    m_cols: int = -1,
) -> Any:
    """Sums over rows [lo, hi) of one side (sorted x; outcome columns ``d``, n x k, column j
    divided by d_scale[j]) of a product of factors times u^m, u = x / x_scale - c, for
    m <= m_max. With ``m_cols`` >= 0 also the product times each column times u^m for
    m <= m_cols: the pair (sums, cross sums (m_cols + 1) x k). With ``codes=(codes, G)``
    (cluster codes 0..G-1 of rows lo..hi) the sums per cluster, G x (m_max + 1).

    The factors: the kernel weight at each bandwidth in ``kerns`` (as
    :func:`truelift.rdd._kernels.kweight`), each polynomial in ``polys`` (coefficients of
    u^0, u^1, ...), each column in ``cols``, and ``n_resid`` times the residual: with
    ``residual=(s, coefs, scale)``, (d s - poly(coefs, u)) * scale (plug-in, HC0/HC1/CR1), or
    with ``nn=(res, a)`` as well, res[i - a] s (nearest-neighbour residuals of the window
    starting at row a).

    Rows are taken in blocks of 256 whose factors and powers stay in cache; the sums within a
    block may be reassociated (vectorised), so they differ from numpy's by rounding.
    """
    k = d.shape[1]
    rmode = 2 if nn is not None else 1
    svec, rcoefs, scale = ((1.0,) * k, (0.0,), 1.0) if residual is None else residual
    res, a = (np.empty((0, k)), 0) if nn is None else nn
    width = max((len(cf) for cf in polys), default=1)
    pc = np.zeros((len(polys), width))
    for j, cf in enumerate(polys):
        pc[j, : len(cf)] = cf
    cl, ng = (_NONE, 1) if codes is None else codes
    out = np.empty((ng, m_max + 1))
    out_c = np.empty((max(m_cols + 1, 0), k))
    _product_sums(
        x,
        d,
        np.asarray(d_scale, dtype=np.float64),
        res,
        int(lo),
        int(hi),
        int(a),
        float(x_scale),
        float(c),
        _KCODE[kernel],
        bool(negative),
        np.asarray(kerns, dtype=np.float64),
        pc,
        np.asarray(cols, dtype=np.int64),
        rmode,
        int(n_resid),
        np.asarray(svec, dtype=np.float64),
        np.asarray(rcoefs if rcoefs else (0.0,), dtype=np.float64),
        float(scale),
        cl,
        int(m_max),
        int(m_cols),
        out,
        out_c,
    )
    if codes is not None:
        return out
    return out[0] if m_cols < 0 else (out[0], out_c)
