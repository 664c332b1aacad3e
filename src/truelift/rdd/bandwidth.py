"""Data-driven bandwidths for local polynomial RD: MSE-optimal and CER-optimal selectors.

Calonico, Cattaneo & Titiunik (2014, Econometrica) MSE-optimal bandwidth with regularisation;
Calonico, Cattaneo & Farrell (2018, 2020) coverage-error-optimal bandwidths; the pilot,
bias and variance steps follow the rdrobust package's ``rdbwselect`` (running variable and
outcome standardised first, pilot bandwidth C_K * min(sd, IQR/1.349) * N^(-1/5), mass-point
floor ``bwcheck``), so that the selected h and b agree with rdrobust to rounding error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from truelift.rdd._kernels import (
    gram_moments,
    inv_chol_or_pinv,
    kweight,
    meat,
    nn_residuals,
    poly_eval,
    power_moments,
    residuals,
    vander,
)

__all__ = ["Side", "n_distinct", "select_bandwidths"]

_KERNEL_CONST = {"triangular": 2.576, "epanechnikov": 2.34, "uniform": 1.843}
_SQRT_EPS = float(np.sqrt(np.finfo(np.float64).eps))


@dataclass(frozen=True)
class Side:
    """The observations on one side of the cutoff.

    Either sorted by the running variable (``xs`` is None; windows are slices), or in any order
    with ``xs`` a sorted copy of ``x`` (windows are index arrays; ``xs`` answers the questions
    about distinct values). Only the nearest-neighbour variance needs the sorted layout.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray | None = None
    z: np.ndarray | None = None
    cl: np.ndarray | None = None
    xs: np.ndarray | None = None

    @property
    def sorted_x(self) -> np.ndarray:
        return self.x if self.xs is None else self.xs

    def outcomes(self, mask: np.ndarray | slice = slice(None)) -> np.ndarray:
        if self.t is None and self.z is None:
            return self.y[mask][:, None]  # a view when mask is a slice
        cols = [self.y[mask][:, None]]
        if self.t is not None:
            cols.append(self.t[mask][:, None])
        if self.z is not None:
            cols.append(self.z[mask])
        return np.hstack(cols)

    def cluster(self, mask: np.ndarray | slice) -> np.ndarray | None:
        return None if self.cl is None else self.cl[mask]

    def window(self, c: float, h: float, kernel: str) -> tuple[slice | np.ndarray, np.ndarray]:
        """The rows with positive kernel weight at bandwidth h, and their weights.

        Sorted rows: the support |x - c| <= h is a slice found by binary search (with a margin);
        the weights are then computed exactly as rdrobust does on that slice only. Unsorted
        rows: the same support from the sorted copy decides whether every row is inside (no
        copy) or which rows are (an index array).
        """
        sl, w = _sorted_window(self.sorted_x, c, h, kernel)
        if self.xs is None:
            return sl, w
        if sl.stop - sl.start == self.x.size:
            return slice(None), kweight(self.x, c, h, kernel)
        pad = h * (1 + 1e-9) + 1e-300
        idx = np.flatnonzero(np.abs(self.x - c) <= pad)
        w = kweight(self.x[idx], c, h, kernel)
        keep = w > 0
        return idx[keep], w[keep]


def _sorted_window(xs: np.ndarray, c: float, h: float, kernel: str) -> tuple[slice, np.ndarray]:
    pad = h * (1 + 1e-9) + 1e-300
    lo = int(np.searchsorted(xs, c - pad, side="left"))
    hi = int(np.searchsorted(xs, c + pad, side="right"))
    w = kweight(xs[lo:hi], c, h, kernel)
    pos = np.flatnonzero(w > 0)
    if pos.size == 0:
        return slice(lo, lo), w[:0]
    return slice(lo + pos[0], lo + pos[-1] + 1), w[pos[0] : pos[-1] + 1]


def has_distinct(sorted_x: np.ndarray, k: int) -> bool:
    """Whether a sorted array holds at least k distinct values (k binary searches)."""
    pos, found = 0, 0
    while pos < sorted_x.size and found < k:
        found += 1
        pos = int(np.searchsorted(sorted_x, sorted_x[pos], side="right"))
    return found >= k


def n_distinct(sorted_x: np.ndarray) -> int:
    """Number of distinct values of a sorted array."""
    return 0 if sorted_x.size == 0 else 1 + int(np.count_nonzero(sorted_x[1:] != sorted_x[:-1]))


@dataclass(frozen=True)
class _Opts:
    c: float
    kernel: str
    vce: str
    nnmatch: int


def _combination(
    side: Side,
    d: np.ndarray,
    beta: np.ndarray,
    inv_g: np.ndarray,
    big_u: np.ndarray,
    w: np.ndarray,
    nu: int,
) -> np.ndarray:
    """Weights s that turn the (y, t, z) columns into the estimand (fuzzy ratio, covariates)."""
    d_t = 0 if side.t is None else 1
    s = np.ones(1)
    gamma = None
    if side.z is not None:
        cols_z = np.arange(1 + d_t, d.shape[1])
        zwd = np.einsum("i,ij,ik->jk", w, d[:, cols_z], d)
        uigu = big_u[:, cols_z].T @ (inv_g @ big_u)
        zwz = zwd[:, cols_z] - uigu[:, cols_z]
        zwy = zwd[:, : 1 + d_t] - uigu[:, : 1 + d_t]
        gamma = np.linalg.pinv(zwz) @ zwy
        s = np.r_[1.0, -gamma[:, 0]]
    if side.t is not None:
        fac = math.factorial(nu)
        if gamma is None:
            tau_y, tau_t = fac * beta[nu, 0], fac * beta[nu, 1]
            s = np.array([1 / tau_t, -tau_y / tau_t**2])
        else:
            cols_z = np.arange(2, d.shape[1])
            tau_y = fac * s @ np.r_[beta[nu, 0], beta[nu, cols_z]]
            tau_t = fac * np.r_[1.0, -gamma[:, 1]] @ np.r_[beta[nu, 1], beta[nu, cols_z]]
            s = np.r_[
                1 / tau_t,
                -tau_y / tau_t**2,
                -(1 / tau_t) * gamma[:, 0] + (tau_y / tau_t**2) * gamma[:, 1],
            ]
    return s


@dataclass(frozen=True)
class _Fit:
    """A weighted polynomial fit of order o on one window, kept as power moments."""

    ind: slice | np.ndarray
    u: np.ndarray
    ew: np.ndarray
    d: np.ndarray
    inv_g: np.ndarray
    beta: np.ndarray
    rhs: np.ndarray
    mom: np.ndarray
    o: int


def _local_fit(side: Side, o: int, h: float, opts: _Opts) -> _Fit | None:
    if side.xs is not None:
        sl, _ = _sorted_window(side.xs, opts.c, h, opts.kernel)
        if not has_distinct(side.xs[sl], o + 1):
            return None
    ind, ew = side.window(opts.c, h, opts.kernel)
    ex = side.x[ind]
    if side.xs is None and not has_distinct(ex, o + 1):
        return None
    u = ex - opts.c
    d = side.outcomes(ind)
    mom, rhs = gram_moments(ew, u, 2 * o + 1, d, o)
    g = mom[np.add.outer(np.arange(o + 1), np.arange(o + 1))]
    inv_g = inv_chol_or_pinv(g)
    beta = inv_g @ rhs
    return _Fit(ind, u, ew, d, inv_g, beta, rhs, mom, o)


def _variance(side: Side, fit: _Fit, s: np.ndarray, opts: _Opts, cache: dict) -> np.ndarray:
    """Sandwich variance of the fit's coefficients for the combination s of its columns."""
    k = fit.o + 1
    if opts.vce in ("hc2", "hc3"):
        basis = vander(fit.u, fit.o)
        bw = basis * fit.ew[:, None]
        res = residuals(
            fit.u,
            fit.d,
            basis,
            fit.beta,
            fit.inv_g,
            fit.ew,
            opts.vce,
            opts.nnmatch,
            side.cl is not None,
        )
        return np.asarray(fit.inv_g @ meat(bw, res, s, side.cluster(fit.ind)) @ fit.inv_g)
    if opts.vce == "nn":
        assert isinstance(fit.ind, slice)  # internal invariant: nn runs on sorted sides
        key = ("nn", fit.ind.start, fit.ind.stop)  # depends on the window only
        if key not in cache:
            cache[key] = nn_residuals(side.x[fit.ind], fit.d, opts.nnmatch)
        res = cache[key]
        r = np.einsum("ij,j->i", res, s) if res.shape[1] > 1 else res[:, 0].copy()
    else:
        r = np.einsum("ij,j->i", fit.d, s) if fit.d.shape[1] > 1 else fit.d[:, 0].copy()
        r -= poly_eval(fit.beta @ s if fit.d.shape[1] > 1 else fit.beta[:, 0], fit.u)
        if opts.vce == "hc1" and side.cl is None:
            r *= np.sqrt(fit.u.size / (fit.u.size - k))
    r *= fit.ew
    cl = side.cluster(fit.ind)
    if cl is None:
        r *= r
        m2 = power_moments(r, fit.u, 2 * fit.o)
        aux = m2[np.add.outer(np.arange(k), np.arange(k))]
    else:
        _, codes = np.unique(cl, return_inverse=True)
        ng = int(codes.max()) + 1
        run = r.copy()
        sums = np.empty((ng, k))
        for j in range(k):
            sums[:, j] = np.bincount(codes, weights=run, minlength=ng)
            run *= fit.u
        n = fit.u.size
        aux = (
            ((n - 1) / (n - k)) * (ng / (ng - 1)) * (sums.T @ sums)
            if ng > 1
            else sums.T @ sums * np.nan
        )
    return np.asarray(fit.inv_g @ aux @ fit.inv_g)


def _pilot_v(side: Side, o: int, nu: int, h_v: float, opts: _Opts, cache: dict):  # type: ignore[no-untyped-def]
    """Variance and bias constant of the order-o fit at the pilot bandwidth (cached by (o, nu))."""
    key = (o, nu)
    if key in cache:
        return cache[key]
    fit = _local_fit(side, o, h_v, opts)
    if fit is None:
        cache[key] = (np.nan, np.nan, np.ones(1))
        return cache[key]
    s = _combination(side, fit.d, fit.beta, fit.inv_g, fit.rhs, fit.ew, nu)
    v_v = _variance(side, fit, s, opts, cache)[nu, nu]
    v = fit.mom[o + 1 : 2 * o + 2] / h_v ** (o + 1)
    hp = h_v ** np.arange(o + 1)
    b_const = (hp * (fit.inv_g @ v))[nu]
    cache[key] = (v_v, b_const, s)
    return cache[key]


def _bw_terms(
    side: Side,
    o: int,
    nu: int,
    o_b: int,
    h_v: float,
    h_b: float,
    scale: float,
    opts: _Opts,
    cache: dict,
) -> tuple[float, float, float, float]:
    """(V, B, R, rate) of rdrobust's ``rdrobust_bw``: variance, bias and regularisation terms."""
    nan = (np.nan, np.nan, np.nan, 1 / (2 * o + 3))
    v_v, b_const, s = _pilot_v(side, o, nu, h_v, opts, cache)
    if not np.isfinite(v_v) or not (np.isfinite(h_b) and h_b > 0):
        return nan
    fit = _local_fit(side, o_b, h_b, opts)
    if fit is None:
        return nan
    beta = fit.beta
    reg = 0.0
    if scale > 0:
        v_b = _variance(side, fit, s, opts, cache)[-1, -1]
        reg = 3 * b_const**2 * v_b
    bias = math.sqrt(2 * (o + 1 - nu)) * b_const * float(np.dot(s, beta[-1, :]))
    var = (2 * nu + 1) * h_v ** (2 * nu + 1) * v_v
    return float(var), float(bias), float(scale * 2 * (o + 1 - nu) * reg), 1 / (2 * o + 3)


def select_bandwidths(
    left: Side,
    right: Side,
    *,
    c: float,
    p: int,
    q: int,
    kernel: str,
    bwselect: str,
    vce: str,
    nnmatch: int,
    masspoints: bool,
    bwcheck: int | None,
    pilot_scale: float,
    n_unique: int,
    n_clusters: int | None,
    x_sd: float,
) -> tuple[float, float, float, float]:
    """(h_left, h_right, b_left, b_right) on the standardised scale times ``x_sd``.

    ``left``/``right`` hold standardised data; ``pilot_scale`` is min(1, IQR/(1.349 sd)).
    """
    opts = _Opts(c=c, kernel=kernel, vce=vce, nnmatch=nnmatch)
    n = left.x.size + right.x.size
    x_min, x_max = float(left.x.min()), float(right.x.max())
    range_l, range_r = abs(c - x_min), abs(c - x_max)
    bw_max_l, bw_max_r = range_l, range_r
    bw_max = max(bw_max_l, bw_max_r)
    c_bw = _KERNEL_CONST[kernel] * pilot_scale * (n_unique if masspoints else n) ** (-1 / 5)
    c_bw = min(c_bw, bw_max)
    bw_min_l = bw_min_r = 0.0
    if bwcheck is not None:
        ul = _distinct(left.sorted_x)[::-1]
        ur = _distinct(right.sorted_x)
        bw_min_l = abs(ul - c)[min(bwcheck, ul.size) - 1] * (1 + _SQRT_EPS)
        bw_min_r = abs(ur - c)[min(bwcheck, ur.size) - 1] * (1 + _SQRT_EPS)
        c_bw = max(c_bw, bw_min_l, bw_min_r)
    cache_l: dict = {}
    cache_r: dict = {}

    def terms(side: Side, cache: dict, o: int, nu: int, o_b: int, h_b: float, scale: float):  # type: ignore[no-untyped-def]
        return _bw_terms(side, o, nu, o_b, c_bw, h_b, scale, opts, cache)

    eps1 = 1 + _SQRT_EPS
    d_l = terms(left, cache_l, q + 1, q + 1, q + 2, range_l * eps1, 0.0)
    d_r = terms(right, cache_r, q + 1, q + 1, q + 2, range_r * eps1, 0.0)
    if bwselect in ("msetwo", "certwo"):
        h_l, b_l = _two(left, cache_l, d_l, terms, p, q, bw_max_l, bw_min_l, bwcheck)
        h_r, b_r = _two(right, cache_r, d_r, terms, p, q, bw_max_r, bw_min_r, bwcheck)
    else:
        d_bw = ((d_l[0] + d_r[0]) / (d_r[1] - d_l[1]) ** 2) ** d_l[3]
        d_bw = min(d_bw, bw_max)
        if bwcheck is not None:
            d_bw = max(d_bw, bw_min_l, bw_min_r)
        cb_l = terms(left, cache_l, q, p + 1, q + 1, d_bw, 1.0)
        cb_r = terms(right, cache_r, q, p + 1, q + 1, d_bw, 1.0)
        b_bw = ((cb_l[0] + cb_r[0]) / ((cb_r[1] - cb_l[1]) ** 2 + cb_r[2] + cb_l[2])) ** cb_l[3]
        b_bw = min(b_bw, bw_max)
        ch_l = terms(left, cache_l, p, 0, q, b_bw, 1.0)
        ch_r = terms(right, cache_r, p, 0, q, b_bw, 1.0)
        h_bw = ((ch_l[0] + ch_r[0]) / ((ch_r[1] - ch_l[1]) ** 2 + ch_r[2] + ch_l[2])) ** ch_l[3]
        h_bw = min(h_bw, bw_max)
        h_l = h_r = h_bw
        b_l = b_r = b_bw
    if bwselect in ("cerrd", "certwo"):
        base = n_clusters if n_clusters is not None else n
        cer = base ** (-(p / ((3 + p) * (3 + 2 * p))))
        h_l, h_r = h_l * cer, h_r * cer
    return x_sd * h_l, x_sd * h_r, x_sd * b_l, x_sd * b_r


def _distinct(sorted_x: np.ndarray) -> np.ndarray:
    return sorted_x[np.r_[True, sorted_x[1:] != sorted_x[:-1]]]


def _two(side, cache, d, terms, p, q, bw_max, bw_min, bwcheck):  # type: ignore[no-untyped-def]
    """One side's bandwidths for the ``msetwo``/``certwo`` selectors."""
    d_bw = min((d[0] / d[1] ** 2) ** d[3], bw_max)
    if bwcheck is not None:
        d_bw = max(d_bw, bw_min)
    cb = terms(side, cache, q, p + 1, q + 1, d_bw, 1.0)
    b_bw = min((cb[0] / (cb[1] ** 2 + cb[2])) ** cb[3], bw_max)
    ch = terms(side, cache, p, 0, q, b_bw, 1.0)
    h_bw = min((ch[0] / (ch[1] ** 2 + ch[2])) ** ch[3], bw_max)
    return h_bw, b_bw
