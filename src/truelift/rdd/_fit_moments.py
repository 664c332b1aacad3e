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

from truelift.rdd._kernels import hankel, inv_chol
from truelift.rdd._sums import Feeder, Ind, Kern, Poly, Req, Resid
from truelift.rdd.bandwidth import z_requests

__all__ = ["side_fit_moments"]


def _cluster_factor(n: int, k: int, g: int) -> float:
    return ((n - 1) / (n - k)) * (g / (g - 1)) if g > 1 else float("nan")


def side_fit_moments(
    side: Feeder, h: float, b: float, p: int, q: int, kernel: str, vce: str, nnmatch: int
) -> dict:
    """Coefficients, covariate moments and a variance function for one side of the cutoff."""
    kh, kb = Kern(h, kernel), Kern(b, kernel)
    win = Kern(max(h, b), kernel)
    reqs = [
        Req((kh,), 2 * p + 1, cols=p),
        Req((kb,), 2 * q, cols=q),
        Req((Ind(kh),), 0),
        Req((Ind(kb),), 0),
        *z_requests(side, kh),
    ]
    res = side.sums(win, reqs)
    (mom_h, rhs_p), (mom_b, rhs_q) = res.out[0], res.out[1]
    inv_gp = inv_chol(hankel(mom_h, p + 1))
    inv_gq = inv_chol(hankel(mom_b, q + 1))
    ell = mom_h[p + 1 : 2 * p + 2] / h ** (p + 1)
    g = inv_gq[p + 1, :]
    beta_p = inv_gp @ rhs_p
    beta_q = inv_gq @ rhs_q
    beta_bc = inv_gp @ (rhs_p - h ** (p + 1) * np.outer(ell, g @ rhs_q))
    z_stats = None
    if side.has_z:
        zwd = np.vstack([r[1] for r in res.out[4:]])
        cols_z = np.arange(1 + int(side.has_t), side.ncols)
        uigu = rhs_p[:, cols_z].T @ (inv_gp @ rhs_p)
        z_stats = (
            zwd[:, cols_z] - uigu[:, cols_z],
            zwd[:, : 1 + int(side.has_t)] - uigu[:, : 1 + int(side.has_t)],
        )
    bq = Poly(tuple(float(v) for v in h ** (p + 1) * g))
    n = res.n
    src = side.rows(win) if vce == "nn" else side

    def resid(s: np.ndarray, beta: np.ndarray, k: int) -> Resid:
        st = tuple(float(v) for v in s)
        if vce == "nn":
            return Resid(st, nn=nnmatch)
        coefs = beta @ s if side.ncols > 1 else beta[:, 0]
        scale = float(np.sqrt(n / (n - k))) if vce == "hc1" and not side.clustered else 1.0
        return Resid(st, tuple(float(v) for v in coefs), scale)

    def variance(s: np.ndarray) -> tuple[float, float]:
        r_h = resid(s, beta_p, p + 1)
        r_b = r_h if vce == "nn" else resid(s, beta_q, q + 1)
        meat_cl, meat_rb = _meats(src, win, kh, kb, bq, ell, r_h, r_b, p, q, n)
        return float((inv_gp @ meat_cl @ inv_gp)[0, 0]), float((inv_gp @ meat_rb @ inv_gp)[0, 0])

    return {
        "beta_p": beta_p,
        "beta_bc": beta_bc,
        "z_stats": z_stats,
        "n_h": round(float(res.out[2][0])),
        "n_b": round(float(res.out[3][0])),
        "variance": variance,
    }


def _meats(
    src: Feeder,
    win: Kern,
    kh: Kern,
    kb: Kern,
    bq: Poly,
    ell: np.ndarray,
    r_h: Resid,
    r_b: Resid,
    p: int,
    q: int,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Meats of the conventional (score a u^j r_h) and robust (score (a u^j - bq l_j) r_b) SEs,
    with a = K_h and bq = h^(p+1) K_b P_g."""
    k = p + 1
    if not src.clustered:
        reqs = [
            Req((kh, kh, r_h, r_h), 2 * p),
            Req((kh, kh, r_b, r_b), 2 * p),
            Req((kh, kb, bq, r_b, r_b), p),
            Req((kb, kb, bq, bq, r_b, r_b), 0),
        ]
        cl2, a2, ab, b2 = src.sums(win, reqs).out
        meat_cl = hankel(cl2, k)
        b2f = float(b2[0])
        meat_rb = hankel(a2, k) - np.outer(ab, ell) - np.outer(ell, ab) + b2f * np.outer(ell, ell)
        return meat_cl, meat_rb
    reqs = [
        Req((kh, r_h), p, by_cluster=True),
        Req((kh, r_b), p, by_cluster=True),
        Req((kb, bq, r_b), 0, by_cluster=True),
    ]
    s_h, s_b, s_bq = src.sums(win, reqs).out
    s_b = s_b - np.outer(s_bq[:, 0], ell)
    ng = s_h.shape[0]
    return (
        np.asarray(s_h.T @ s_h) * _cluster_factor(n, k, ng),
        np.asarray(s_b.T @ s_b) * _cluster_factor(n, q + 1, ng),
    )


VarianceFn = Callable[[np.ndarray], tuple[float, float]]
