"""The IPW and AIPW kernels over sums, and the in-memory feed of those sums.

Everything :func:`~truelift.propensity.ipw` and :func:`~truelift.propensity.aipw` report is a
function of a few sums over rows. The kernels here ask a *feed* for them in rounds, each round
using the previous one's result:

1. IPW: the weighted arm totals ``sum w`` and ``sum w y`` give the Hájek means ``mu`` (AIPW: the
   sum of the doubly robust scores and its denominator give the estimate);
2. IPW with the logistic score: ``sum a s x~`` with ``a_i = kappa_arm w_i (y_i - mu_arm)``,
   ``kappa = n / sum w`` (signed by arm) and ``x~ = (1, x)``, gives the correction
   ``c = H^{-1} sum a s x~`` for the estimated propensity (stacked estimating equations;
   Lunceford & Davidian 2004);
3. the influence values ``psi_i = a_i + (t_i - e_i) x~_i'c`` (AIPW: ``phi_i - estimate``) summed
   as ``sum psi^2``, or per cluster (CR1), give the variance.

:class:`ArrayFeed` computes the sums from numpy arrays; ``propensity._engine.EngineFeed`` computes
the same sums with one aggregation each inside DuckDB, polars or Spark; ``propensity._fused.
FusedFeed`` (``ipw`` with the default score in memory) has them from one pass over the rows
after the fit (and the psi pass). All run these kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from truelift._parallel import map_ranges
from truelift.errors import DataError
from truelift.inference import cluster_sums

__all__ = [
    "ArrayFeed",
    "Facts",
    "Feed",
    "IpwFeed",
    "PsiSums",
    "Run",
    "aipw_flow",
    "ipw_flow",
    "ols_from_gram",
    "variance",
]


@dataclass(frozen=True)
class PsiSums:
    """``sum psi^2`` over units, and the per-cluster sums of ``psi`` when clustered."""

    ss: float
    by_cluster: np.ndarray | None = None


@dataclass(frozen=True)
class Facts:
    """What the diagnostics and the result need from the rows besides the estimate."""

    balance: list[dict[str, Any]]
    overlap: dict[str, Any]
    hist: dict[str, Any]
    e_range: tuple[float, float]
    auc: float
    y_binary: bool
    y_sd: float
    n_treated: int
    base: float  # weighted mean outcome of the untreated (the E-value's baseline risk)


@dataclass(frozen=True)
class Run:
    """One analysis, from either feed: the estimate, its variance and what the result reports."""

    est: float
    var: float
    facts: Facts
    n_obs: int
    n_dropped: int
    covariates: tuple[str, ...]
    coef: dict[str, float] | None
    model: str
    bounds: tuple[float, float] | None
    n_trimmed: int
    engine: str
    transferred: str | None = None
    extra: dict[str, Any] | None = None


class IpwFeed(Protocol):
    """A source of the IPW kernel's sums: in-memory arrays or an engine."""

    @property
    def n(self) -> int:
        """Number of units."""
        ...

    def weight_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """(sum w, sum w y) over kept units, index 0 untreated and 1 treated."""
        ...

    def score_cross(self, mu: np.ndarray, kappa: np.ndarray) -> np.ndarray:
        """``sum a s x~`` over all units (length k + 1, intercept first)."""
        ...

    def ipw_psi(self, mu: np.ndarray, kappa: np.ndarray, c: np.ndarray | None) -> PsiSums:
        """Sums of the IPW influence values ``a + (t - e) x~'c`` (``a`` alone if ``c`` is None)."""
        ...


class Feed(IpwFeed, Protocol):
    """A source of the IPW and AIPW kernels' sums: in-memory arrays or an engine."""

    def aipw_totals(self, estimand: str) -> tuple[float, float]:
        """(sum of the doubly robust scores, their denominator) over kept units."""
        ...

    def aipw_psi(self, estimand: str, est: float) -> PsiSums:
        """Sums of the AIPW influence values (numerators) over kept units."""
        ...


def variance(ps: PsiSums, denom: float) -> float:
    """``sum psi^2 / denom^2``, or the CR1 version ``G/(G-1) sum_g (sum_g psi)^2 / denom^2``."""
    if ps.by_cluster is None:
        return float(ps.ss) / denom**2
    S = ps.by_cluster
    G = S.size
    if G < 2:
        raise DataError("cluster-robust variance needs at least 2 clusters; found 1.")
    return float((G / (G - 1)) * (S @ S) / denom**2)


def ipw_flow(
    feed: IpwFeed, hessian: np.ndarray | None, pending: np.ndarray | None = None
) -> tuple[float, float, float, float, np.ndarray]:
    """Hájek contrast, its variance and the arm means; ``hessian`` (X'WX of the logistic score)
    stacks the score equations, ``None`` treats the scores as known.

    ``pending`` is a last Newton step the fit did not take (the scores are those of the iterate
    before it): the arm means are then moved along it to first order, ``mu + (d mu / d beta)'
    step``, with the derivatives ``sum_arm w s x~ (y - mu_arm) / W_arm`` the score-cross sums
    already give, so they equal the means at the stepped coefficients to O(|step|^2).
    """
    W, Wy = feed.weight_sums()
    mu = Wy / W
    n = feed.n
    kappa = np.array([-n / W[0], n / W[1]])
    c = None
    if hessian is not None:
        grad = feed.score_cross(mu, kappa) / n
        c = np.linalg.solve(hessian, grad) * n
    var = variance(feed.ipw_psi(mu, kappa, c), n)
    if pending is not None:
        d1 = feed.score_cross(mu, np.array([0.0, kappa[1]])) / n
        d0 = -feed.score_cross(mu, np.array([kappa[0], 0.0])) / n
        mu = mu + np.array([d0 @ pending, d1 @ pending])
    return float(mu[1] - mu[0]), var, float(mu[1]), float(mu[0]), W


def aipw_flow(feed: Feed, estimand: str) -> tuple[float, float]:
    """Doubly robust estimate and its influence-function variance."""
    total, denom = feed.aipw_totals(estimand)
    est = total / denom
    return est, variance(feed.aipw_psi(estimand, est), denom)


def ols_from_gram(gram: np.ndarray, xty: np.ndarray) -> np.ndarray:
    """OLS coefficients from ``X~'X~`` and ``X~'y`` (Jacobi-scaled solve; least squares if
    singular)."""
    d = np.sqrt(np.clip(np.diag(gram), 1e-300, None))
    scaled = gram / np.outer(d, d)
    try:
        coef = np.linalg.solve(scaled, xty / d)
    except np.linalg.LinAlgError:
        coef = np.linalg.lstsq(scaled, xty / d, rcond=None)[0]
    return np.asarray(coef / d)


@dataclass
class ArrayFeed:
    """The kernel's sums from in-memory arrays (rows in memory; no copies of the caller's frame).

    ``w`` are the weights already multiplied by ``keep``; ``s`` is ``d w / d beta / (w x~)``.
    """

    t: np.ndarray
    y: np.ndarray
    e: np.ndarray
    w: np.ndarray
    s: np.ndarray
    X: np.ndarray
    keep: np.ndarray
    cluster: np.ndarray | None = None
    m1: np.ndarray | None = None
    m0: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.t.size)

    def weight_sums(self) -> tuple[np.ndarray, np.ndarray]:
        def part(lo: int, hi: int) -> np.ndarray:
            w, t, y = self.w[lo:hi], self.t[lo:hi], self.y[lo:hi]
            w1 = w * t
            return np.array([w.sum(), w1.sum(), w @ y, w1 @ y])

        W, W1, Wy, Wy1 = np.sum(map_ranges(part, self.n), axis=0)
        return np.array([W - W1, W1]), np.array([Wy - Wy1, Wy1])

    def _a(self, mu: np.ndarray, kappa: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """``kappa_arm w (y - mu_arm)`` over rows lo:hi."""
        tr = self.t[lo:hi] > 0
        a = self.y[lo:hi] - np.where(tr, mu[1], mu[0])
        a *= self.w[lo:hi]
        a *= np.where(tr, kappa[1], kappa[0])
        return a

    def score_cross(self, mu: np.ndarray, kappa: np.ndarray) -> np.ndarray:
        def part(lo: int, hi: int) -> np.ndarray:
            v = self._a(mu, kappa, lo, hi)
            v *= self.s[lo:hi]
            return np.concatenate(([v.sum()], v @ self.X[lo:hi]))

        return np.asarray(np.sum(map_ranges(part, self.n), axis=0))

    def ipw_psi(self, mu: np.ndarray, kappa: np.ndarray, c: np.ndarray | None) -> PsiSums:
        full = None if self.cluster is None else np.empty(self.n)

        def part(lo: int, hi: int) -> float:
            psi = self._a(mu, kappa, lo, hi)
            if c is not None:
                lin = self.X[lo:hi] @ c[1:]
                lin += c[0]
                lin *= self.t[lo:hi] - self.e[lo:hi]
                psi += lin
            if full is not None:
                full[lo:hi] = psi
            return float(psi @ psi)

        ss = float(sum(map_ranges(part, self.n)))
        if full is None or self.cluster is None:
            return PsiSums(ss)
        codes = np.unique(self.cluster, return_inverse=True)[1]
        return PsiSums(ss, cluster_sums(full, codes.ravel()))

    @staticmethod
    def _sums(psi: np.ndarray, cluster: np.ndarray | None) -> PsiSums:
        if cluster is None:
            return PsiSums(float(psi @ psi))
        codes = np.unique(cluster, return_inverse=True)[1]
        return PsiSums(float(psi @ psi), cluster_sums(psi, codes.ravel()))

    def _aipw_terms(self, estimand: str) -> tuple[np.ndarray, np.ndarray]:
        if self.m1 is None or self.m0 is None:
            raise DataError("aipw needs outcome predictions.")
        k = self.keep
        t, y, e, m1, m0 = self.t[k], self.y[k], self.e[k], self.m1[k], self.m0[k]
        if estimand == "ATE":
            phi = m1 - m0 + t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e)
            return phi, np.ones_like(phi)
        return t * (y - m0) - (1 - t) * e / (1 - e) * (y - m0), t

    def aipw_totals(self, estimand: str) -> tuple[float, float]:
        num, den = self._aipw_terms(estimand)
        return float(num.sum()), float(den.sum())

    def aipw_psi(self, estimand: str, est: float) -> PsiSums:
        num, den = self._aipw_terms(estimand)
        cl = None if self.cluster is None else self.cluster[self.keep]
        return self._sums(num - den * est, cl)
