"""One side's local polynomial RD fit from power moments (vce = nn, hc0, hc1, CR1).

The same algebra as :func:`truelift.rdd._fit._side_fit_matrix` (rdrobust's ``rdrobust()``,
Calonico, Cattaneo & Titiunik 2014), rewritten so that no n x k basis is formed: Gram matrices,
cross-products and sandwich meats are sums of kernel-weighted powers of (x - c). With
a_i = K_h(x_i), b_i = h^(p+1) K_b(x_i) P_g(x_i - c) (P_g the polynomial with the coefficients of
row p+1 of the inverse q-Gram) and l the vector L of the paper, the bias-corrected score is
Q_ij = a_i u_i^j - b_i l_j, so its meat needs only sum r^2 a^2 u^m, sum r^2 a b u^m, sum r^2 b^2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from truelift.rdd._kernels import (
    gram_moments,
    hankel,
    inv_chol,
    kweight,
    nn_residuals,
    poly_eval,
    power_moments,
)
from truelift.rdd.bandwidth import Side

__all__ = ["side_fit_moments"]


def _combined(d: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.einsum("ij,j->i", d, s) if d.shape[1] > 1 else d[:, 0].copy()


def _cluster_factor(n: int, k: int, g: int) -> float:
    return ((n - 1) / (n - k)) * (g / (g - 1)) if g > 1 else float("nan")


def side_fit_moments(
    side: Side, c: float, h: float, b: float, p: int, q: int, kernel: str, vce: str, nnmatch: int
) -> dict:
    """Coefficients, covariate moments and a variance function for one side of the cutoff."""
    ind, _ = side.window(c, max(h, b), kernel)
    ex = side.x[ind]
    u = ex - c
    w_h, w_b = kweight(ex, c, h, kernel), kweight(ex, c, b, kernel)
    d = side.outcomes(ind)
    mom_h, rhs_p = gram_moments(w_h, u, 2 * p + 1, d, p)
    mom_b, rhs_q = gram_moments(w_b, u, 2 * q, d, q)
    inv_gp = inv_chol(hankel(mom_h, p + 1))
    inv_gq = inv_chol(hankel(mom_b, q + 1))
    ell = mom_h[p + 1 : 2 * p + 2] / h ** (p + 1)
    g = inv_gq[p + 1, :]
    beta_p = inv_gp @ rhs_p
    beta_q = inv_gq @ rhs_q
    beta_bc = inv_gp @ (rhs_p - h ** (p + 1) * np.outer(ell, g @ rhs_q))
    z_stats = None
    if side.z is not None:
        d_t = 0 if side.t is None else 1
        cols_z = np.arange(1 + d_t, d.shape[1])
        zwd = np.einsum("i,ij,ik->jk", w_h, d[:, cols_z], d)
        uigu = rhs_p[:, cols_z].T @ (inv_gp @ rhs_p)
        z_stats = (zwd[:, cols_z] - uigu[:, cols_z], zwd[:, : 1 + d_t] - uigu[:, : 1 + d_t])
    b_w = h ** (p + 1) * w_b * poly_eval(g, u)
    cl = side.cluster(ind)
    nn = nn_residuals(ex, d, nnmatch) if vce == "nn" else None

    def residual(s: np.ndarray, beta: np.ndarray, k: int) -> np.ndarray:
        if nn is not None:
            return _combined(nn, s)
        r = _combined(d, s)
        r -= poly_eval(beta @ s if d.shape[1] > 1 else beta[:, 0], u)
        if vce == "hc1" and cl is None:
            r *= np.sqrt(u.size / (u.size - k))
        return r

    def variance(s: np.ndarray) -> tuple[float, float]:
        r_h = residual(s, beta_p, p + 1)
        r_b = r_h if nn is not None else residual(s, beta_q, q + 1)
        meat_cl, meat_rb = _meats(u, w_h, b_w, ell, r_h, r_b, p, q, cl)
        return float((inv_gp @ meat_cl @ inv_gp)[0, 0]), float((inv_gp @ meat_rb @ inv_gp)[0, 0])

    return {
        "beta_p": beta_p,
        "beta_bc": beta_bc,
        "z_stats": z_stats,
        "n_h": int(np.count_nonzero(w_h > 0)),
        "n_b": int(np.count_nonzero(w_b > 0)),
        "variance": variance,
    }


def _meats(
    u: np.ndarray,
    a: np.ndarray,
    bq: np.ndarray,
    ell: np.ndarray,
    r_h: np.ndarray,
    r_b: np.ndarray,
    p: int,
    q: int,
    cl: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Meats of the conventional (score a u^j r_h) and robust (score (a u^j - bq l_j) r_b) SEs."""
    k = p + 1
    if cl is None:
        ar = a * r_h
        meat_cl = hankel(power_moments(ar * ar, u, 2 * p), k)
        rb2 = r_b * r_b
        a2 = power_moments(rb2 * a * a, u, 2 * p)
        ab = power_moments(rb2 * a * bq, u, p)
        b2 = float(np.sum(rb2 * bq * bq))
        meat_rb = hankel(a2, k) - np.outer(ab, ell) - np.outer(ell, ab) + b2 * np.outer(ell, ell)
        return meat_cl, meat_rb
    _, codes = np.unique(cl, return_inverse=True)
    ng = int(codes.max()) + 1
    n = u.size
    return (
        _cluster_meat(codes, ng, u, a * r_h, None, ell, k) * _cluster_factor(n, k, ng),
        _cluster_meat(codes, ng, u, a * r_b, bq * r_b, ell, k) * _cluster_factor(n, q + 1, ng),
    )


def _cluster_meat(
    codes: np.ndarray,
    ng: int,
    u: np.ndarray,
    ar: np.ndarray,
    br: np.ndarray | None,
    ell: np.ndarray,
    k: int,
) -> np.ndarray:
    sums = np.empty((ng, k))
    run = ar.copy()
    for j in range(k):
        sums[:, j] = np.bincount(codes, weights=run, minlength=ng)
        run *= u
    if br is not None:
        sums -= np.outer(np.bincount(codes, weights=br, minlength=ng), ell)
    return np.asarray(sums.T @ sums)


VarianceFn = Callable[[np.ndarray], tuple[float, float]]
