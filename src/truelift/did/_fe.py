"""OLS with absorbed fixed effects and its CR1 covariance, as one kernel with two feeds.

The fixed effects are removed by the within transformation, computed with alternating projections
(Gaure 2013; Correia 2016) rather than dummy columns, so it scales to millions of rows. The
kernel proper (:func:`solve_gram`, :func:`cr1`) sees only the Gram matrix of the within-
transformed outcome and regressors and the per-cluster scores: the in-memory path builds them
from arrays (:func:`fe_ols`), the engine path (:mod:`truelift.did._engine`) from sums computed
where the data live. Small-sample factor ``G/(G-1) * (n-1)/(n-K)``; ``fe_dof="full"`` counts
every fixed-effect level in K, ``"nested"`` drops those nested in the clusters (fixest default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from truelift._parallel import MIN_ROWS, run_jobs
from truelift.did._common import FeDof
from truelift.errors import ConvergenceError, DataError, IdentificationError

__all__ = ["FEFit", "cr1", "demean", "fe_ols", "fe_param_count", "panel_layout", "solve_gram"]


def _demean_vec(
    v: np.ndarray,
    groups: list[np.ndarray],
    counts: list[np.ndarray],
    one_sweep: bool,
    tol: float,
    maxiter: int,
) -> np.ndarray:
    scale = max(float(np.abs(v).max()), 1.0) if v.size else 1.0
    for _ in range(maxiter):
        change = 0.0
        for g, c in zip(groups, counts, strict=True):
            m = np.bincount(g, weights=v, minlength=c.size) / c
            v -= m[g]
            change = max(change, float(np.abs(m).max()))
        if one_sweep or change <= tol * scale:
            return v
    raise ConvergenceError(
        f"the fixed-effect projections did not converge in {maxiter} sweeps; the panel may "
        "be badly connected. Check for units observed in one period only."
    )


def is_balanced(groups: list[np.ndarray]) -> bool:
    """True for one fixed effect, or two that form a balanced panel (each pair exactly once)."""
    if len(groups) <= 1:
        return True
    if len(groups) > 2:
        return False
    a, b = groups
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    return a.size == na * nb and bool(np.all(np.bincount(a * nb + b, minlength=na * nb) == 1))


TwoWay = Callable[[np.ndarray], np.ndarray | None]
Layout = tuple[bool, tuple[int, int] | None, TwoWay | None]


def panel_layout(groups: list[np.ndarray]) -> Layout:
    """(one sweep is exact, (N, T) if the rows are a balanced panel sorted by unit then time,
    the direct two-way transformation of an unbalanced panel with few periods or ``None``)."""
    if len(groups) == 2:
        a, b = groups
        na, nb = int(a.max()) + 1, int(b.max()) + 1
        if a.size == na * nb:
            A, B = a.reshape(na, nb), b.reshape(na, nb)
            if (np.arange(na)[:, None] == A).all() and (np.arange(nb)[None, :] == B).all():
                return True, (na, nb), None
    one = is_balanced(groups)
    return one, None, (_two_way(groups) if not one and len(groups) == 2 else None)


def _demean_sorted(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    Y = v.reshape(shape)
    out = Y - Y.mean(axis=1, keepdims=True)
    out -= out.mean(axis=0, keepdims=True)
    return out.ravel()


_TWO_WAY_LEVELS = 256  # the smaller fixed effect's levels up to which the direct solve is used


def _two_way(groups: list[np.ndarray]) -> TwoWay | None:
    """Exact two-way within transformation of an unbalanced panel when one fixed effect has few
    levels (periods): ``M_A v - M_A B gamma`` with ``gamma`` solving the small normal equations
    ``(B' M_A B) gamma = B' M_A v`` (Frisch-Waugh-Lovell; A = the many-level effect, B = the
    few-level one), so no iteration. ``None`` when the levels or the cell table are too many;
    the function returns ``None`` when the small system is not solved to 1e-9 (a panel that is
    disconnected or nearly so), and the caller then iterates."""
    a, b = groups
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    if na < nb:
        a, b, na, nb = b, a, nb, na
    if nb > _TWO_WAY_LEVELS or na * nb > 4 * a.size + 4096:
        return None
    cells = np.bincount(a * nb + b, minlength=na * nb).astype(np.float64).reshape(na, nb)
    na_count = np.maximum(cells.sum(axis=1), 1.0)
    share = cells / na_count[:, None]
    gram = np.diag(cells.sum(axis=0)) - share.T @ cells  # B' M_A B (singular: constants)
    pinv = np.linalg.pinv(gram, rcond=1e-12, hermitian=True)
    scale = float(cells.sum(axis=0).max())

    def apply(v: np.ndarray) -> np.ndarray | None:
        mean_a = np.bincount(a, weights=v, minlength=na) / na_count
        rhs = np.bincount(b, weights=v, minlength=nb) - cells.T @ mean_a
        gamma = pinv @ rhs
        rms = np.sqrt(float(v @ v) / max(v.size, 1))
        if np.abs(gram @ gamma - rhs).max() > 1e-9 * scale * max(rms, 1.0):
            return None  # a (near-)disconnected panel: the caller iterates instead
        # v - mean_a[a] - (gamma[b] - (share @ gamma)[a]): the unit-demeaned B gamma removed
        out = v - (mean_a - share @ gamma)[a]
        out -= gamma[b]
        return out

    return apply


def demean(
    M: np.ndarray,
    groups: list[np.ndarray],
    *,
    tol: float = 1e-10,
    maxiter: int = 10_000,
    layout: Layout | None = None,
) -> np.ndarray:
    """Residuals of the columns of ``M`` on the fixed effects ``groups`` (integer codes).

    Alternating projections (Gaure 2013): subtract group means of each fixed effect in turn until
    no group mean exceeds ``tol`` times the column's scale. One sweep is exact for one fixed
    effect and for a balanced two-way panel; a balanced panel sorted by unit then time is
    demeaned as an N x T matrix (row then column means); an unbalanced two-way panel with few
    periods is transformed directly (:func:`_two_way`). ``layout``: :func:`panel_layout`.
    """
    one, shape, exact = panel_layout(groups) if layout is None else layout
    arr = np.asarray(M, dtype=np.float64)
    if shape is not None:
        if arr.ndim == 1:
            return _demean_sorted(arr, shape)
        return np.column_stack([_demean_sorted(arr[:, j], shape) for j in range(arr.shape[1])])
    if exact is not None:
        cols = [arr] if arr.ndim == 1 else [arr[:, j] for j in range(arr.shape[1])]
        done = [r for r in (exact(c) for c in cols) if r is not None]
        if len(done) == len(cols):
            return done[0] if arr.ndim == 1 else np.column_stack(done)
    counts = [np.maximum(np.bincount(g).astype(np.float64), 1.0) for g in groups]
    if arr.ndim == 1:
        return _demean_vec(arr.copy(), groups, counts, one, tol, maxiter)
    out = np.empty(arr.shape, order="F")
    for j in range(arr.shape[1]):
        out[:, j] = _demean_vec(np.array(arr[:, j]), groups, counts, one, tol, maxiter)
    return out


def _cluster_sum(M: np.ndarray, cluster: np.ndarray, G: int) -> np.ndarray:
    """Column sums of ``M`` (n x k) within clusters 0..G-1 (bincount per column: fast)."""
    return np.column_stack(
        [np.bincount(cluster, weights=M[:, j], minlength=G) for j in range(M.shape[1])]
    )


@dataclass(frozen=True)
class FEFit:
    """Coefficients and CR1 covariance of an OLS fit with absorbed fixed effects."""

    coef: np.ndarray
    vcov: np.ndarray
    resid: np.ndarray | None  # None on the engine path (no rows)
    Xt: np.ndarray | None  # the within-transformed regressors (in-memory path)
    n_obs: int
    n_params: int  # K used in the small-sample factor
    n_clusters: int

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))


def fe_param_count(levels: list[int], nested: list[bool]) -> int:
    """Fixed-effect parameters counted in K: every level of the first counted dimension, one
    fewer of each further one (redundant); dimensions nested in the clusters are skipped."""
    k, counted = 0, 0
    for n_levels, is_nested in zip(levels, nested, strict=True):
        if not is_nested:
            k += n_levels - (1 if counted else 0)
            counted += 1
    return k


def _fe_count(groups: list[np.ndarray], cluster: np.ndarray, fe_dof: FeDof) -> int:
    """:func:`fe_param_count` from integer codes (``"nested"``: pyfixest/fixest default)."""
    levels, nested = [], []
    for g in groups:
        n_levels = int(g.max()) + 1
        is_nested = False
        if fe_dof == "nested" and g is cluster:
            is_nested = True  # clustering by this fixed effect itself
        elif fe_dof == "nested":
            first = np.full(n_levels, -1)
            first[g] = cluster  # the last cluster seen per level
            is_nested = bool(np.all(first[g] == cluster))
        levels.append(n_levels)
        nested.append(is_nested)
    return fe_param_count(levels, nested)


def solve_gram(XtX: np.ndarray, Xty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and bread ``(X'X)^-1`` from the Gram matrix of the within-transformed data."""
    if XtX.shape[0] == 0 or np.linalg.matrix_rank(XtX) < XtX.shape[0]:
        raise IdentificationError(
            "a regressor does not vary within units and periods after removing the fixed effects "
            "(e.g. a treatment that every unit adopts at the same time, or a time-invariant "
            "covariate); its effect is not identified by the two-way fixed-effects model."
        )
    bread = np.linalg.inv(XtX)
    return bread @ Xty, bread


def cr1(bread: np.ndarray, scores: np.ndarray, n: int, K: int) -> tuple[np.ndarray, int]:
    """CR1 covariance from per-cluster scores (one row per non-empty cluster) with the factor
    ``G/(G-1) * (n-1)/(n-K)``; returns (vcov, G)."""
    G = int(scores.shape[0])
    if G < 2:
        raise DataError(f"cluster-robust variance needs at least 2 clusters; found {G}.")
    if n <= K:
        raise DataError(f"{n} observations cannot identify {K} parameters.")
    factor = (G / (G - 1)) * ((n - 1) / (n - K))
    return factor * bread @ (scores.T @ scores) @ bread, G


def fe_ols(
    y: np.ndarray,
    X: np.ndarray,
    groups: list[np.ndarray],
    cluster: np.ndarray,
    *,
    fe_dof: FeDof = "full",
) -> FEFit:
    """OLS of ``y`` on ``X`` with the fixed effects ``groups`` absorbed; CR1 covariance.

    The in-memory feed of the kernel: within-transform (:func:`demean`; the columns on two
    threads), then :func:`solve_gram` and :func:`cr1` on the Gram matrix and the per-cluster
    scores.
    """
    layout = panel_layout(groups)
    jobs = [lambda c=c: demean(c, groups, layout=layout) for c in [y, *X.T]]
    done = run_jobs(jobs, y.size * len(jobs) >= MIN_ROWS)  # columns on two threads
    yt, Xt = done[0], np.column_stack(done[1:])
    coef, bread = solve_gram(Xt.T @ Xt, Xt.T @ yt)
    resid = yt - Xt @ coef
    counts = np.bincount(cluster)
    scores = _cluster_sum(Xt * resid[:, None], cluster, counts.size)[counts > 0]
    K = Xt.shape[1] + _fe_count(groups, cluster, fe_dof)
    vcov, G = cr1(bread, scores, y.size, K)
    return FEFit(coef, vcov, resid, Xt, y.size, K, G)
