"""Sufficient-statistics kernels of randomized experiments.

Every A/B estimator in :mod:`truelift.experiment` needs only, per arm, the count, the sums and the
cross-products of ``w = [1, c_1..c_m, x_1..x_k]`` (metric components ``c`` and covariates ``x``):
one ``GROUP BY arm`` of sums over ``(1+m+k)(2+m+k)/2`` products. :class:`ArmMoments` holds those
matrices; an engine (DuckDB, Spark) can fill it from a query and share the kernels below with the
in-memory path.

From the moments we get the covariate-adjusted mean of each component in each arm and the joint
covariance of all of them:

* ``"none"``: arm means, variances with ``n_a - 1`` (Welch).
* ``"lin"``: Lin (2013) fully interacted adjustment: within each arm, regress the components on the
  covariates and evaluate the fit at the pooled covariate mean. Per-arm residual variance with
  ``n_a - 1 - k`` (the HC0 variance of the intercept at the arm mean, with an HC1-style
  correction), plus the variance of the pooled covariate mean,
  ``B_a' Sigma_x B_b / N`` (the influence-function term for the population average effect).
* ``"cuped"``: CUPED (Deng, Xu, Kohavi & Walker 2013): one pooled within-arm slope for all arms.

Ratio metrics and cluster-level means use the delta method on the joint covariance (Deng, Knoblich
& Lu 2018, "Applying the delta method in metric analytics").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from truelift.errors import DataError

__all__ = [
    "AdjustedMeans",
    "ArmMoments",
    "adjusted_means",
    "arm_moments",
    "contrast",
]

Adjustment = Literal["none", "lin", "cuped"]


@dataclass(frozen=True)
class ArmMoments:
    """Per-arm cross-product matrices ``cross[a] = sum_{i in arm a} w_i w_i'``, ``w = [1, c, x]``.

    ``cross[a, 0, 0]`` is the arm's count, ``cross[a, 0, 1:]`` its sums. With ``shift`` (length
    p, first entry 0) the columns are ``w - shift``: centring each column near its mean keeps the
    centred cross-products (``cross - sums sums' / n``) from cancelling when a metric's mean is
    large next to its spread (revenue in cents, timestamps); the kernels add the shift back to
    the means.
    """

    cross: np.ndarray  # (A, p, p)
    m: int  # number of metric components
    k: int  # number of covariates
    shift: np.ndarray | None = None  # (p,)

    @property
    def n(self) -> np.ndarray:
        return self.cross[:, 0, 0]


def arm_moments(arm: np.ndarray, n_arms: int, C: np.ndarray, X: np.ndarray) -> ArmMoments:
    """Compute :class:`ArmMoments` from unit-level arrays (arm codes 0..n_arms-1).

    Each column is centred at its overall mean (``shift``, see :class:`ArmMoments`). Uses one
    weighted ``bincount`` per product and two reused buffers, so memory stays O(n) whatever the
    number of columns.
    """
    cols = [C[:, j] for j in range(C.shape[1])] + [X[:, j] for j in range(X.shape[1])]
    p = len(cols) + 1
    shift = np.zeros(p)
    shift[1:] = [float(np.mean(a)) if a.size else 0.0 for a in cols]
    cross = np.zeros((n_arms, p, p))
    cross[:, 0, 0] = np.bincount(arm, minlength=n_arms)
    # reused buffers: no fresh allocation per product
    own, buf = np.empty(arm.size), np.empty(arm.size)
    for i, a in enumerate(cols, start=1):
        np.subtract(a, shift[i], out=own)
        s = np.bincount(arm, weights=own, minlength=n_arms)
        cross[:, 0, i] = cross[:, i, 0] = s
        for j in range(i, p):
            np.subtract(cols[j - 1], shift[j], out=buf)
            buf *= own
            s = np.bincount(arm, weights=buf, minlength=n_arms)
            cross[:, i, j] = cross[:, j, i] = s
    return ArmMoments(cross=cross, m=C.shape[1], k=X.shape[1], shift=shift)


@dataclass(frozen=True)
class AdjustedMeans:
    """Adjusted component means per arm and their joint covariance.

    ``mean[a, j]`` is component ``j`` in arm ``a``; ``vcov`` is indexed by ``a * m + j``.
    ``slopes[a]`` (k x m) are the adjustment coefficients; ``r2[a, j]`` the share of the
    component's within-arm variance they explain.
    """

    mean: np.ndarray
    vcov: np.ndarray
    slopes: np.ndarray
    r2: np.ndarray
    n: np.ndarray


def _solve(S: np.ndarray, R: np.ndarray) -> np.ndarray:
    if S.size == 0:
        return np.zeros((0, R.shape[1]))
    try:
        cond = np.linalg.cond(S)
    except np.linalg.LinAlgError:
        cond = np.inf
    if not np.isfinite(cond) or cond > 1e13:
        raise DataError(
            "the covariates are collinear (or constant) within an arm, so the adjustment is not "
            "identified; remove redundant covariates."
        )
    return np.linalg.solve(S, R)


def adjusted_means(mom: ArmMoments, adjustment: Adjustment = "none") -> AdjustedMeans:
    """Adjusted means of every component in every arm with their joint covariance."""
    A, m, k = mom.cross.shape[0], mom.m, mom.k
    if adjustment == "none":
        k = 0
    n = mom.n
    if (n < 2 + k).any():
        raise DataError(
            f"every arm needs at least {2 + k} units for this analysis; found arm sizes "
            f"{[int(v) for v in n]}."
        )
    ic, ix = slice(1, 1 + m), slice(1 + m, 1 + m + k)
    sums = mom.cross[:, 0, :]
    mean_c = sums[:, ic] / n[:, None]
    mean_x = sums[:, ix] / n[:, None]
    # centred within-arm cross-products
    cen = mom.cross - sums[:, :, None] * sums[:, None, :] / n[:, None, None]
    Scc, Sxc, Sxx = cen[:, ic, ic], cen[:, ix, ic], cen[:, ix, ix]
    if adjustment == "cuped":
        B = np.broadcast_to(_solve(Sxx.sum(0), Sxc.sum(0)), (A, k, m))
        ddof = 1 + k / A
    else:
        B = np.stack([_solve(Sxx[a], Sxc[a]) for a in range(A)])
        ddof = 1 + k
    N = n.sum()
    xbar = sums[:, ix].sum(0) / N
    mean = mean_c + np.einsum("akm,ak->am", B, xbar[None, :] - mean_x)
    E = (
        Scc
        - np.einsum("akm,akl->aml", B, Sxc)
        - np.einsum("akm,akl->alm", Sxc, B)
        + np.einsum("akm,akj,ajl->aml", B, Sxx, B)
    )
    V = np.zeros((A * m, A * m))
    for a in range(A):
        V[a * m : (a + 1) * m, a * m : (a + 1) * m] = E[a] / ((n[a] - ddof) * n[a])
    if k:
        tot_xx = mom.cross[:, ix, ix].sum(0) - N * np.outer(xbar, xbar)
        Sigma_x = tot_xx / (N - 1)
        Bf = B.transpose(1, 0, 2).reshape(k, A * m)  # columns ordered a * m + j
        V += Bf.T @ Sigma_x @ Bf / N
    if mom.shift is not None:  # the columns were centred: the means' own level back
        mean = mean + mom.shift[ic][None, :]
    var_c = np.einsum("amm->am", Scc)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(var_c > 0, 1 - np.einsum("amm->am", E) / var_c, 0.0)
    return AdjustedMeans(mean=mean, vcov=V, slopes=np.asarray(B), r2=r2, n=n)


def metric_value(am: AdjustedMeans, arm: int, comps: Sequence[int]) -> tuple[float, np.ndarray]:
    """A metric's value in one arm and its gradient over the flattened means.

    ``comps`` is ``[j]`` for a mean metric and ``[num, den]`` for a ratio metric.
    """
    A, m = am.mean.shape
    g = np.zeros(A * m)
    if len(comps) == 1:
        g[arm * m + comps[0]] = 1.0
        return float(am.mean[arm, comps[0]]), g
    num, den = am.mean[arm, comps[0]], am.mean[arm, comps[1]]
    if den == 0:
        raise DataError("the ratio metric's denominator averages zero in an arm; undefined.")
    g[arm * m + comps[0]] = 1.0 / den
    g[arm * m + comps[1]] = -num / den**2
    return float(num / den), g


@dataclass(frozen=True)
class Contrast:
    """Treatment-vs-control contrast of one metric: absolute and relative, with variances."""

    value_t: float
    value_c: float
    diff: float
    var_diff: float
    rel: float
    var_rel: float
    var_t: float
    var_c: float


def contrast(am: AdjustedMeans, treat: int, control: int, comps: Sequence[int]) -> Contrast:
    """Difference and relative lift (``v_t / v_c - 1``) by the delta method."""
    vt, gt = metric_value(am, treat, comps)
    vc, gc = metric_value(am, control, comps)
    V = am.vcov
    gd = gt - gc
    if vc == 0:
        rel, var_rel = float("nan"), float("nan")
    else:
        gr = gt / vc - gc * vt / vc**2
        rel, var_rel = vt / vc - 1.0, float(gr @ V @ gr)
    return Contrast(
        value_t=vt,
        value_c=vc,
        diff=vt - vc,
        var_diff=float(gd @ V @ gd),
        rel=rel,
        var_rel=var_rel,
        var_t=float(gt @ V @ gt),
        var_c=float(gc @ V @ gc),
    )
