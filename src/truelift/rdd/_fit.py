"""The local polynomial RD point estimates and robust bias-corrected variances, as arrays.

Calonico, Cattaneo & Titiunik (2014, Econometrica): conventional local polynomial estimate of
order p, bias correction with a local polynomial of order q at bandwidth b, and a variance that
accounts for the estimated bias ("robust bias-corrected"). Covariate adjustment follows
Calonico, Cattaneo, Farrell & Titiunik (2019, REStat); the fuzzy design is the ratio of the
outcome and treatment jumps with its delta-method variance. Each step mirrors rdrobust's
``rdrobust()`` so that estimates, standard errors, intervals and effective sample sizes agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from truelift.rdd._array import Side
from truelift.rdd._fit_moments import side_fit_moments
from truelift.rdd._kernels import inv_chol, kweight, meat, residuals, vander
from truelift.rdd._sums import Feeder, Kern
from truelift.rdd._threads import both

__all__ = ["RDFit", "fit_rd"]


@dataclass(frozen=True)
class RDFit:
    """Everything the public function reports (right-minus-left convention, as rdrobust)."""

    tau_cl: float
    tau_bc: float
    se_cl: float
    se_rb: float
    h: tuple[float, float]
    b: tuple[float, float]
    n: tuple[int, int]
    n_h: tuple[int, int]
    n_b: tuple[int, int]
    z: float
    beta_left: np.ndarray
    beta_right: np.ndarray
    tau_t: float | None
    se_t_cl: float | None
    se_t_rb: float | None
    gamma: np.ndarray | None

    def ci(self, kind: str) -> tuple[float, float]:
        centre, se = (
            (self.tau_cl, self.se_cl)
            if kind == "conventional"
            else (self.tau_bc, self.se_cl if kind == "bias-corrected" else self.se_rb)
        )
        return centre - self.z * se, centre + self.z * se

    def p_value(self, kind: str = "robust") -> float:
        centre, se = (
            (self.tau_cl, self.se_cl)
            if kind == "conventional"
            else (self.tau_bc, self.se_cl if kind == "bias-corrected" else self.se_rb)
        )
        return float(2 * stats.norm.cdf(-abs(centre / se)))


def _side_fit(
    side: Feeder, h: float, b: float, p: int, q: int, kernel: str, vce: str, nnmatch: int
) -> dict:
    """One side's fit; nn/HC0/HC1/CR1 from power moments, HC2/HC3 (leverages) from the basis
    (on the rows of the window: ``side.rows``)."""
    if vce in ("nn", "hc0", "hc1"):
        return side_fit_moments(side, h, b, p, q, kernel, vce, nnmatch)
    rows = side.rows(Kern(max(h, b), kernel))
    return _side_fit_matrix(rows.side, rows.c, h, b, p, q, kernel, vce, nnmatch)


def _side_fit_matrix(
    side: Side, c: float, h: float, b: float, p: int, q: int, kernel: str, vce: str, nnmatch: int
) -> dict:
    ind = side.window_rows(c, max(h, b), kernel)
    ex = side.xv(ind)
    w_h, w_b = kweight(ex, c, h, kernel), kweight(ex, c, b, kernel)
    n_h, n_b = int(np.count_nonzero(w_h > 0)), int(np.count_nonzero(w_b > 0))
    r_q = vander(ex - c, q)
    r_p = r_q[:, : p + 1]
    rw_p = r_p * w_h[:, None]
    rw_q = r_q * w_b[:, None]
    u = (ex - c) / h
    ell = rw_p.T @ (u ** (p + 1))
    sq_q = np.sqrt(w_b)[:, None] * r_q
    inv_gq = inv_chol(sq_q.T @ sq_q)
    sq_p = np.sqrt(w_h)[:, None] * r_p
    inv_gp = inv_chol(sq_p.T @ sq_p)
    m = (r_q @ inv_gq[p + 1, :]) * w_b
    q_q = rw_p - h ** (p + 1) * m[:, None] * ell[None, :]
    d = side.outcomes(ind)
    beta_p = inv_gp @ (rw_p.T @ d)
    beta_q = inv_gq @ (rw_q.T @ d)
    beta_bc = inv_gp @ (q_q.T @ d)
    clustered = side.cl is not None
    res_h = residuals(ex, d, r_p, beta_p, inv_gp, w_h, vce, nnmatch, clustered)
    res_b = (
        res_h
        if vce == "nn"
        else residuals(ex, d, r_q, beta_q, inv_gq, w_b, vce, nnmatch, clustered)
    )
    z_stats = None
    if side.z is not None:
        d_t = 0 if side.t is None else 1
        cols_z = np.arange(1 + d_t, d.shape[1])
        big_u = rw_p.T @ d
        zwd = (d[:, cols_z] * w_h[:, None]).T @ d
        uigu = big_u[:, cols_z].T @ (inv_gp @ big_u)
        z_stats = (zwd[:, cols_z] - uigu[:, cols_z], zwd[:, : 1 + d_t] - uigu[:, : 1 + d_t])
    cl = side.cluster(ind)

    def variance(s: np.ndarray) -> tuple[float, float]:
        v_cl = inv_gp @ meat(rw_p, res_h, s, cl) @ inv_gp
        v_rb = inv_gp @ meat(q_q, res_b, s, cl, k_df=q + 1) @ inv_gp
        return float(v_cl[0, 0]), float(v_rb[0, 0])

    return {
        "beta_p": beta_p,
        "beta_bc": beta_bc,
        "z_stats": z_stats,
        "n_h": n_h,
        "n_b": n_b,
        "variance": variance,
    }


def _combine(fl: dict, fr: dict, fuzzy: bool, has_z: bool):  # type: ignore[no-untyped-def]
    """Point estimates and the residual combination s (sharp/fuzzy, with/without covariates)."""
    beta_p = fr["beta_p"] - fl["beta_p"]
    beta_bc = fr["beta_bc"] - fl["beta_bc"]
    gamma = None
    if has_z:
        zl, zr = fl["z_stats"], fr["z_stats"]
        zwz = zl[0] + zr[0]
        zwy = zl[1] + zr[1]
        gamma = np.linalg.pinv(zwz) @ zwy
    if not fuzzy:
        s = np.ones(1) if gamma is None else np.r_[1.0, -gamma[:, 0]]
        tau_cl = float(s @ beta_p[0, : s.size]) if gamma is not None else float(beta_p[0, 0])
        tau_bc = float(s @ beta_bc[0, : s.size]) if gamma is not None else float(beta_bc[0, 0])
        return tau_cl, tau_bc, s, None, None, gamma
    cols_z = np.arange(2, beta_p.shape[1])
    s_y0 = np.ones(1) if gamma is None else np.r_[1.0, -gamma[:, 0]]
    s_t0 = np.ones(1) if gamma is None else np.r_[1.0, -gamma[:, 1]]
    ty_cl = float(s_y0 @ np.r_[beta_p[0, 0], beta_p[0, cols_z]])
    tt_cl = float(s_t0 @ np.r_[beta_p[0, 1], beta_p[0, cols_z]])
    ty_bc = float(s_y0 @ np.r_[beta_bc[0, 0], beta_bc[0, cols_z]])
    tt_bc = float(s_t0 @ np.r_[beta_bc[0, 1], beta_bc[0, cols_z]])
    tau_cl = ty_cl / tt_cl
    s = np.array([1 / tt_cl, -(ty_cl / tt_cl**2)])
    tau_bc = tau_cl - float(s @ np.array([ty_cl - ty_bc, tt_cl - tt_bc]))
    s_t = np.array([0.0, 1.0])
    if gamma is not None:
        s = np.r_[s, -(1 / tt_cl) * gamma[:, 0] + (ty_cl / tt_cl**2) * gamma[:, 1]]
        s_t = np.r_[0.0, 1.0, -gamma[:, 1]]
    return tau_cl, tau_bc, s, s_t, tt_cl, gamma


def fit_rd(
    left: Feeder,
    right: Feeder,
    *,
    p: int,
    q: int,
    h: tuple[float, float],
    b: tuple[float, float],
    kernel: str,
    vce: str,
    nnmatch: int,
    conf_level: float,
) -> RDFit:
    """Local polynomial RD fit at given bandwidths (right limit minus left limit)."""
    fl, fr = both(
        left,
        right,
        lambda: _side_fit(left, h[0], b[0], p, q, kernel, vce, nnmatch),
        lambda: _side_fit(right, h[1], b[1], p, q, kernel, vce, nnmatch),
    )
    fuzzy = left.has_t
    tau_cl, tau_bc, s, s_t, tau_t, gamma = _combine(fl, fr, fuzzy, left.has_z)
    (vl_cl, vl_rb), (vr_cl, vr_rb) = both(
        left, right, lambda: fl["variance"](s), lambda: fr["variance"](s)
    )
    se_t_cl = se_t_rb = None
    if s_t is not None:
        tl, tr = both(left, right, lambda: fl["variance"](s_t), lambda: fr["variance"](s_t))
        se_t_cl, se_t_rb = float(np.sqrt(tl[0] + tr[0])), float(np.sqrt(tl[1] + tr[1]))
    z = float(-stats.norm.ppf(abs((1 - conf_level) / 2)))
    return RDFit(
        tau_cl=tau_cl,
        tau_bc=tau_bc,
        se_cl=float(np.sqrt(vl_cl + vr_cl)),
        se_rb=float(np.sqrt(vl_rb + vr_rb)),
        h=h,
        b=b,
        n=(left.n, right.n),
        n_h=(fl["n_h"], fr["n_h"]),
        n_b=(fl["n_b"], fr["n_b"]),
        z=z,
        beta_left=fl["beta_p"][:, 0].copy(),
        beta_right=fr["beta_p"][:, 0].copy(),
        tau_t=tau_t,
        se_t_cl=se_t_cl,
        se_t_rb=se_t_rb,
        gamma=gamma,
    )
