"""Inference core: influence functions -> standard errors, intervals and p-values.

Conventions. An estimator :math:`\\hat\\theta` with influence function :math:`\\psi_i` satisfies
:math:`\\hat\\theta - \\theta = n^{-1}\\sum_i \\psi_i + o_p(n^{-1/2})`; its variance estimate is
:math:`n^{-2}\\sum_i \\psi_i^2`. Cluster-robust (CR1): sum :math:`\\psi_i` within each of the G
clusters and use :math:`\\tfrac{G}{G-1}\\, n^{-2}\\sum_g (\\sum_{i\\in g}\\psi_i)^2` (the G/(G-1)
small-sample factor; Liang & Zeger 1986, Cameron & Miller 2015).

Also here: OLS with heteroskedasticity-robust (HC0–HC3; MacKinnon & White 1985) and cluster-robust
(CR1, Stata's (G/(G-1))((n-1)/(n-k)) factor) covariance; the delta method for ratios and relative
lifts; Holm (1979) and Benjamini–Hochberg (1995) adjustments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

from truelift.errors import DataError, DesignError

__all__ = [
    "OLSFit",
    "adjust_pvalues",
    "cluster_sums",
    "delta_ratio",
    "gram_inverse",
    "if_se",
    "if_vcov",
    "interval",
    "ols",
    "relative_lift",
]

VCE = Literal["hc0", "hc1", "hc2", "hc3", "cluster"]


def _check_conf(conf_level: float) -> None:
    if not 0 < conf_level < 1:
        raise DesignError(f"conf_level must lie strictly between 0 and 1; got {conf_level}.")


def cluster_sums(values: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Sum rows of ``values`` (n or n x k) within clusters given as integer codes or labels."""
    codes = (
        np.unique(cluster, return_inverse=True)[1] if cluster.dtype.kind not in "iu" else cluster
    )
    codes = np.asarray(codes).ravel()
    if values.ndim == 1:
        return np.bincount(codes, weights=values)
    G = int(codes.max()) + 1
    out = np.zeros((G, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def if_vcov(psi: np.ndarray, cluster: np.ndarray | None = None) -> np.ndarray:
    """Variance (matrix) of an estimator from its n x k influence functions.

    ``psi`` are per-observation influence values with the 1/n convention above. With ``cluster``
    the CR1 factor G/(G-1) is applied.
    """
    psi2 = psi.reshape(psi.shape[0], -1)
    n = psi2.shape[0]
    if cluster is None:
        V = psi2.T @ psi2 / n**2
    else:
        S = cluster_sums(psi2, cluster)
        G = S.shape[0]
        if G < 2:
            raise DataError("cluster-robust variance needs at least 2 clusters; found 1.")
        V = (G / (G - 1)) * (S.T @ S) / n**2
    return V


def if_se(psi: np.ndarray, cluster: np.ndarray | None = None) -> float:
    """Standard error of a scalar estimator from its influence function (n,)."""
    return float(np.sqrt(if_vcov(psi, cluster)[0, 0]))


def interval(
    estimate: float,
    std_error: float,
    conf_level: float = 0.95,
    df: float | None = None,
    null: float = 0.0,
) -> tuple[float, float, float]:
    """Wald interval and two-sided p-value: normal, or Student t with ``df`` degrees of freedom.

    Returns ``(ci_low, ci_high, p_value)``. A zero or non-finite SE gives NaN p-value and interval
    bounds equal to the estimate only when the SE is exactly zero.
    """
    _check_conf(conf_level)
    dist = stats.norm if df is None else stats.t(df)
    q = float(dist.ppf(0.5 + conf_level / 2))
    lo, hi = estimate - q * std_error, estimate + q * std_error
    if std_error > 0 and np.isfinite(std_error):
        p = float(2 * dist.sf(abs(estimate - null) / std_error))
    else:
        p = float("nan")
    return float(lo), float(hi), p


def delta_ratio(
    mean_num: float, mean_den: float, var_num: float, var_den: float, cov: float
) -> tuple[float, float]:
    """Ratio of means R = N/D and its delta-method variance.

    ``var_*`` and ``cov`` are the variances/covariance of the two *means* (already divided by n).
    Var(R) = (var_num - 2 R cov + R^2 var_den) / D^2.
    """
    if mean_den == 0:
        raise DataError("the denominator's mean is zero; the ratio is undefined.")
    r = mean_num / mean_den
    var = (var_num - 2 * r * cov + r**2 * var_den) / mean_den**2
    return r, var


def relative_lift(
    mean_t: float, mean_c: float, var_t: float, var_c: float, cov: float = 0.0
) -> tuple[float, float]:
    """Relative lift mean_t / mean_c - 1 and its delta-method variance (independent arms: cov=0)."""
    r, var = delta_ratio(mean_t, mean_c, var_t, var_c, cov)
    return r - 1.0, var


@dataclass(frozen=True)
class OLSFit:
    """Coefficients, covariance and residual information of an OLS fit."""

    coef: np.ndarray
    vcov: np.ndarray
    resid: np.ndarray
    n_obs: int
    n_params: int
    vce: str
    df_resid: float
    n_clusters: int | None = None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))


def gram_inverse(G: np.ndarray) -> np.ndarray | None:
    """The inverse of a Gram matrix ``X'X``, or None when it is singular: judged on its
    correlation form (columns scaled to unit length), so that a column's units do not decide."""
    d = np.sqrt(np.diag(G))
    try:
        cond = np.linalg.cond(G / np.outer(d, d)) if np.all(d > 0) else np.inf
    except np.linalg.LinAlgError:
        cond = np.inf
    if not np.isfinite(cond) or cond > 1e14:
        return None
    return np.asarray(np.linalg.inv(G / np.outer(d, d)) / np.outer(d, d))


def _solve_xtx(X: np.ndarray) -> np.ndarray:
    """(X'X)^-1, refused when X'X is singular (:func:`gram_inverse`)."""
    inv = gram_inverse(X.T @ X)
    if inv is None:
        raise DataError(
            "the regression design is singular (collinear columns, or a covariate that does not "
            "vary within the sample); remove redundant covariates."
        )
    return inv


def _centred(X: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(Xc, A)`` with ``X = Xc A``: every column but the first constant one centred at its
    (weighted) mean, so a covariate whose mean is large next to its spread (a timestamp, an
    amount in cents) neither looks collinear with the constant nor loses digits to it; ``(X,
    None)`` without a constant column. ``A = I + e_c m' / v`` (v the constant's value), so the
    coefficients are ``A^-1`` times those on ``Xc`` and their covariance ``A^-1 V A^-T``."""
    n, k = X.shape
    if k < 2 or n == 0:
        return X, None
    const = np.flatnonzero(np.all(X[:1] == X, axis=0) & (X[0] != 0))
    if const.size == 0:
        return X, None
    c = int(const[0])
    m = np.average(X, axis=0, weights=weights)
    m[c] = 0.0
    A = np.eye(k)
    A[c] += m / X[0, c]
    return X - m, A


def ols(
    X: np.ndarray,
    y: np.ndarray,
    *,
    vce: VCE = "hc1",
    cluster: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> OLSFit:
    """(Weighted) least squares with robust or cluster-robust covariance.

    ``vce``: ``hc0``–``hc3``; with ``cluster`` given, CR1 with the (G/(G-1))((n-1)/(n-k)) factor
    (Stata/fixest convention) is used regardless of ``vce``.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    if n <= k:
        raise DataError(f"{n} observations cannot identify {k} regression coefficients.")
    Xc, A = _centred(X, weights)
    fit = _ols(Xc, y, vce, cluster, weights)
    if A is None:
        return fit
    Ainv = np.linalg.inv(A)
    return replace(fit, coef=Ainv @ fit.coef, vcov=Ainv @ fit.vcov @ Ainv.T)


def _ols(
    X: np.ndarray,
    y: np.ndarray,
    vce: VCE,
    cluster: np.ndarray | None,
    weights: np.ndarray | None,
) -> OLSFit:
    n, k = X.shape
    if weights is not None:
        sw = np.sqrt(weights)
        Xw, yw = X * sw[:, None], y * sw
    else:
        Xw, yw = X, y
    bread = _solve_xtx(Xw)
    coef = bread @ (Xw.T @ yw)
    resid = y - X @ coef
    uw = resid * (np.sqrt(weights) if weights is not None else 1.0)
    scores = Xw * uw[:, None]
    if cluster is not None:
        S = cluster_sums(scores, cluster)
        G = S.shape[0]
        if G < 2:
            raise DataError("cluster-robust variance needs at least 2 clusters; found 1.")
        factor = (G / (G - 1)) * ((n - 1) / (n - k))
        vcov = factor * bread @ (S.T @ S) @ bread
        return OLSFit(coef, vcov, resid, n, k, "cluster (CR1)", G - 1, G)
    if vce in ("hc2", "hc3"):
        h = np.einsum("ij,jk,ik->i", Xw, bread, Xw)
        scale = 1 / (1 - h) if vce == "hc2" else 1 / (1 - h) ** 2
        meat = (scores * scale[:, None]).T @ scores
    elif vce in ("hc0", "hc1"):
        meat = scores.T @ scores
        if vce == "hc1":
            meat *= n / (n - k)
    else:
        raise DesignError(f"vce must be one of 'hc0', 'hc1', 'hc2', 'hc3'; got {vce!r}.")
    vcov = bread @ meat @ bread
    return OLSFit(coef, vcov, resid, n, k, vce, n - k)


def adjust_pvalues(p: Sequence[float], method: Literal["holm", "bh"] | None) -> np.ndarray:
    """Holm (family-wise error) or Benjamini–Hochberg (false discovery rate) adjusted p-values."""
    pv = np.asarray(p, dtype=float)
    if method is None:
        return pv
    m = pv.size
    order = np.argsort(pv, kind="stable")
    ranked = pv[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * ranked[::-1])[::-1]
    else:
        raise DesignError(f"correction must be None, 'holm' or 'bh'; got {method!r}.")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out
