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

from truelift.rdd._kernels import hankel, inv_chol_or_pinv
from truelift.rdd._sums import Col, Feeder, Kern, Req, Resid
from truelift.rdd._threads import both

__all__ = ["select_bandwidths"]

_KERNEL_CONST = {"triangular": 2.576, "epanechnikov": 2.34, "uniform": 1.843}
_SQRT_EPS = float(np.sqrt(np.finfo(np.float64).eps))


@dataclass(frozen=True)
class _Opts:
    kernel: str
    vce: str
    nnmatch: int


def _combination(side: Feeder, fit: _Fit, nu: int) -> np.ndarray:
    """Weights s that turn the (y, t, z) columns into the estimand (fuzzy ratio, covariates)."""
    d_t = 0 if not side.has_t else 1
    s = np.ones(1)
    gamma = None
    beta = fit.beta
    if side.has_z:
        assert fit.zwd is not None  # internal invariant: covariate fits carry their moments
        cols_z = np.arange(1 + d_t, side.ncols)
        uigu = fit.rhs[:, cols_z].T @ (fit.inv_g @ fit.rhs)
        zwz = fit.zwd[:, cols_z] - uigu[:, cols_z]
        zwy = fit.zwd[:, : 1 + d_t] - uigu[:, : 1 + d_t]
        gamma = np.linalg.pinv(zwz) @ zwy
        s = np.r_[1.0, -gamma[:, 0]]
    if side.has_t:
        fac = math.factorial(nu)
        if gamma is None:
            tau_y, tau_t = fac * beta[nu, 0], fac * beta[nu, 1]
            s = np.array([1 / tau_t, -tau_y / tau_t**2])
        else:
            cols_z = np.arange(2, side.ncols)
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
    """A weighted polynomial fit of order o at bandwidth h, kept as power moments."""

    h: float
    n: int
    inv_g: np.ndarray
    beta: np.ndarray
    rhs: np.ndarray
    mom: np.ndarray
    o: int
    zwd: np.ndarray | None


def z_requests(side: Feeder, k: Kern) -> list[Req]:
    """sum K d_z d' for every covariate column (one request per covariate)."""
    if not side.has_z:
        return []
    first = 1 + int(side.has_t)
    return [Req((k, Col(j)), 0, cols=0) for j in range(first, side.ncols)]


def _local_fit(side: Feeder, o: int, h: float, opts: _Opts) -> _Fit | None:
    k = Kern(h, opts.kernel)
    res = side.sums(k, [Req((k,), 2 * o + 1, cols=o), *z_requests(side, k)], distinct=o + 1)
    if not res.distinct_ok:
        return None
    mom, rhs = res.out[0]
    zwd = np.vstack([r[1] for r in res.out[1:]]) if side.has_z else None
    inv_g = inv_chol_or_pinv(hankel(mom, o + 1))
    return _Fit(h, res.n, inv_g, inv_g @ rhs, rhs, mom, o, zwd)


def _variance(side: Feeder, fit: _Fit, s: np.ndarray, opts: _Opts) -> np.ndarray:
    """Sandwich variance of the fit's coefficients for the combination s of its columns."""
    k = fit.o + 1
    win = Kern(fit.h, opts.kernel)
    if opts.vce in ("hc2", "hc3"):
        return side.rows(win).basis_variance(win, fit.o, fit.beta, fit.inv_g, s, opts.vce)
    coefs = fit.beta @ s if side.ncols > 1 else fit.beta[:, 0]
    scale = 1.0
    if opts.vce == "hc1" and not side.clustered:
        scale = float(np.sqrt(fit.n / (fit.n - k)))
    r = Resid(
        tuple(map(float, s)), tuple(map(float, coefs)), scale, opts.nnmatch * (opts.vce == "nn")
    )
    src = side.rows(win) if r.nn else side
    if not side.clustered:
        m2 = src.sums(win, [Req((win, win, r, r), 2 * fit.o)]).out[0]
        aux = hankel(m2, k)
    else:
        sums = src.sums(win, [Req((win, r), fit.o, by_cluster=True)]).out[0]
        ng, n = sums.shape[0], fit.n
        aux = sums.T @ sums * (((n - 1) / (n - k)) * (ng / (ng - 1)) if ng > 1 else np.nan)
    return np.asarray(fit.inv_g @ aux @ fit.inv_g)


def _pilot_v(side: Feeder, o: int, nu: int, h_v: float, opts: _Opts, cache: dict):  # type: ignore[no-untyped-def]
    """Variance and bias constant of the order-o fit at the pilot bandwidth (cached by (o, nu))."""
    key = (o, nu)
    if key in cache:
        return cache[key]
    fit = _local_fit(side, o, h_v, opts)
    if fit is None:
        cache[key] = (np.nan, np.nan, np.ones(1))
        return cache[key]
    s = _combination(side, fit, nu)
    v_v = _variance(side, fit, s, opts)[nu, nu]
    v = fit.mom[o + 1 : 2 * o + 2] / h_v ** (o + 1)
    hp = h_v ** np.arange(o + 1)
    b_const = (hp * (fit.inv_g @ v))[nu]
    cache[key] = (v_v, b_const, s)
    return cache[key]


def _bw_terms(
    side: Feeder,
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
        v_b = _variance(side, fit, s, opts)[-1, -1]
        reg = 3 * b_const**2 * v_b
    bias = math.sqrt(2 * (o + 1 - nu)) * b_const * float(np.dot(s, beta[-1, :]))
    var = (2 * nu + 1) * h_v ** (2 * nu + 1) * v_v
    return float(var), float(bias), float(scale * 2 * (o + 1 - nu) * reg), 1 / (2 * o + 3)


def select_bandwidths(
    left: Feeder,
    right: Feeder,
    *,
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
    opts = _Opts(kernel=kernel, vce=vce, nnmatch=nnmatch)
    c = left.c
    n = left.n + right.n
    x_min, x_max = left.x_min, right.x_max
    range_l, range_r = abs(c - x_min), abs(c - x_max)
    bw_max_l, bw_max_r = range_l, range_r
    bw_max = max(bw_max_l, bw_max_r)
    c_bw = _KERNEL_CONST[kernel] * pilot_scale * (n_unique if masspoints else n) ** (-1 / 5)
    c_bw = min(c_bw, bw_max)
    bw_min_l = bw_min_r = 0.0
    if bwcheck is not None:
        dl, dr = left.nearest_distinct(bwcheck), right.nearest_distinct(bwcheck)
        bw_min_l = dl[min(bwcheck, dl.size) - 1] * (1 + _SQRT_EPS)
        bw_min_r = dr[min(bwcheck, dr.size) - 1] * (1 + _SQRT_EPS)
        c_bw = max(c_bw, bw_min_l, bw_min_r)
    cache_l: dict = {}
    cache_r: dict = {}

    def terms(side: Feeder, cache: dict, o: int, nu: int, o_b: int, h_b: float, scale: float):  # type: ignore[no-untyped-def]
        return _bw_terms(side, o, nu, o_b, c_bw, h_b, scale, opts, cache)

    eps1 = 1 + _SQRT_EPS
    d_l, d_r = both(
        left,
        right,
        lambda: terms(left, cache_l, q + 1, q + 1, q + 2, range_l * eps1, 0.0),
        lambda: terms(right, cache_r, q + 1, q + 1, q + 2, range_r * eps1, 0.0),
    )
    if bwselect in ("msetwo", "certwo"):
        (h_l, b_l), (h_r, b_r) = both(
            left,
            right,
            lambda: _two(left, cache_l, d_l, terms, p, q, bw_max_l, bw_min_l, bwcheck),
            lambda: _two(right, cache_r, d_r, terms, p, q, bw_max_r, bw_min_r, bwcheck),
        )
    else:
        d_bw = ((d_l[0] + d_r[0]) / (d_r[1] - d_l[1]) ** 2) ** d_l[3]
        d_bw = min(d_bw, bw_max)
        if bwcheck is not None:
            d_bw = max(d_bw, bw_min_l, bw_min_r)
        cb_l, cb_r = both(
            left,
            right,
            lambda: terms(left, cache_l, q, p + 1, q + 1, d_bw, 1.0),
            lambda: terms(right, cache_r, q, p + 1, q + 1, d_bw, 1.0),
        )
        b_bw = ((cb_l[0] + cb_r[0]) / ((cb_r[1] - cb_l[1]) ** 2 + cb_r[2] + cb_l[2])) ** cb_l[3]
        b_bw = min(b_bw, bw_max)
        ch_l, ch_r = both(
            left,
            right,
            lambda: terms(left, cache_l, p, 0, q, b_bw, 1.0),
            lambda: terms(right, cache_r, p, 0, q, b_bw, 1.0),
        )
        h_bw = ((ch_l[0] + ch_r[0]) / ((ch_r[1] - ch_l[1]) ** 2 + ch_r[2] + ch_l[2])) ** ch_l[3]
        h_bw = min(h_bw, bw_max)
        h_l = h_r = h_bw
        b_l = b_r = b_bw
    if bwselect in ("cerrd", "certwo"):
        base = n_clusters if n_clusters is not None else n
        cer = base ** (-(p / ((3 + p) * (3 + 2 * p))))
        h_l, h_r = h_l * cer, h_r * cer
    return x_sd * h_l, x_sd * h_r, x_sd * b_l, x_sd * b_r


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
