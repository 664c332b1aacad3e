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


def nn_residuals(
    x: np.ndarray, d: np.ndarray, matches: int, x_scale: float = 1.0, y_scale: float = 1.0
) -> np.ndarray:
    """Nearest-neighbour residuals of the columns of ``d`` (outcome first), rows sorted by ``x``.

    Each observation is compared with the mean of its ``matches`` closest neighbours in
    x / x_scale (whole groups of tied values enter together, ties in distance within a relative
    sqrt(eps) take both sides), scaled by sqrt(J/(J+1)) (Abadie & Imbens 2006; rdrobust's
    ``vce="nn"``); column 0 is divided by y_scale. A compiled loop
    (:mod:`truelift.rdd._jit`, imported on first use).
    """
    from truelift.rdd import _jit

    return _jit.nn_residuals(x, d, matches, x_scale, y_scale)


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


def hankel(mom: np.ndarray, k: int) -> np.ndarray:
    """The k x k matrix [mom[i + j]] (a Gram matrix from power moments)."""
    return np.asarray(mom[np.add.outer(np.arange(k), np.arange(k))])
