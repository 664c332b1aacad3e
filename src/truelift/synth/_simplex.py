"""Simplex-constrained least squares: the weight kernels of every synthetic-control method.

Two solvers, for two purposes:

* :func:`simplex_qp` solves ``min_w w'Gw - 2c'w`` subject to ``w >= 0, sum(w) = 1`` exactly, with a
  primal active-set method (Lawson & Hanson 1974, adapted to the budget constraint) on the Gram
  form ``G = A'A, c = A'b``. Working on the Gram matrix lets placebo-in-space inference reuse one
  ``G`` for every donor (drop a row and a column), so a full placebo run over 1,000 donors costs
  1,000 small active-set solves, not 1,000 passes over the panel. Used by ADH synthetic control
  (Abadie, Diamond & Hainmueller 2010), the demeaned estimator and the augmented estimator.
* :func:`fw_weights` is the Frank-Wolfe solver with exact line search of the R package
  ``synthdid`` (``sc.weight.fw``; Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021), kept
  step for step (same start, same stopping rule, same ridge term ``N0 * zeta^2``) so that the
  synthetic DiD estimates agree with the reference implementation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fw_batch", "fw_step", "fw_weights", "simplex_ls", "simplex_qp", "sparsify"]


def _kkt_solve(G_ff: np.ndarray, c_f: np.ndarray) -> np.ndarray:
    """Minimise ``z'G z - 2c'z`` subject to ``sum(z) = 1`` (no sign constraint)."""
    k = c_f.size
    M = np.empty((k + 1, k + 1))
    M[:k, :k] = G_ff
    M[:k, k] = 1.0
    M[k, :k] = 1.0
    M[k, k] = 0.0
    rhs = np.empty(k + 1)
    rhs[:k] = c_f
    rhs[k] = 1.0
    try:
        sol = np.linalg.solve(M, rhs)
        err = float(np.max(np.abs(M @ sol - rhs)))
        if err <= 1e-9 * (1.0 + float(np.max(np.abs(rhs)))):  # NaN fails too
            return sol[:k]
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(M, rhs, rcond=None)[0][:k]


def simplex_qp(
    G: np.ndarray,
    c: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int | None = None,
    warm: np.ndarray | None = None,
    exclude: int | None = None,
) -> np.ndarray:
    """Exact minimiser of ``w'Gw - 2c'w`` over the unit simplex (``G`` positive semi-definite).

    Active-set method: start at the best vertex, add the coordinate whose gradient most violates
    the KKT condition, solve the budget-constrained problem on the free set and step back to the
    boundary when a weight would turn negative. Finite; the free set rarely exceeds ``rank(G)+1``.
    ``warm`` (a previous solution of a nearby problem) seeds the free set with its support.
    ``exclude`` holds one coordinate at zero (a placebo's own row of a shared Gram matrix), so
    placebo runs need no copy of ``G`` without that row and column.
    """
    k = c.size
    if k == 1 or (k == 2 and exclude is not None):
        w = np.ones(k) if k == 1 else np.eye(2)[1 - int(exclude or 0)]
        return w
    scale = max(float(np.max(np.abs(np.diag(G)))), 1e-300)
    if warm is not None and np.count_nonzero(warm) > 1:
        free = [int(i) for i in np.flatnonzero(warm)]
        w = _inner(G, c, np.asarray(warm, dtype=float), free, tol)
    else:
        start = np.diag(G) - 2.0 * c
        if exclude is not None:
            start = start.copy()
            start[exclude] = np.inf
        j0 = int(np.argmin(start))
        w = np.zeros(k)
        w[j0] = 1.0
        free = [j0]
    limit = max_iter if max_iter is not None else 10 * k + 100
    for _ in range(limit):
        grad = G[:, free] @ w[free] - c
        mu = float(grad[free].sum()) / len(free)
        viol = grad - mu
        viol[free] = np.inf
        if exclude is not None:
            viol[exclude] = np.inf
        j = int(np.argmin(viol))
        if viol[j] >= -tol * scale:
            break
        free.append(j)
        w = _inner(G, c, w, free, tol)
    return w


def _inner(G: np.ndarray, c: np.ndarray, w: np.ndarray, free: list[int], tol: float) -> np.ndarray:
    """Solve on the free set, stepping back to the boundary while a weight turns negative."""
    for _ in range(len(free) + 1):
        idx = np.asarray(free)
        z = _kkt_solve(G[np.ix_(idx, idx)], c[idx])
        if np.all(z > tol):
            w = np.zeros_like(w)
            w[idx] = z
            return w
        cur = w[idx]
        neg = z <= tol
        denom = cur[neg] - z[neg]
        alpha = float(np.min(np.where(denom > 0, cur[neg] / np.where(denom > 0, denom, 1), 1.0)))
        alpha = min(max(alpha, 0.0), 1.0)
        new = cur + alpha * (z - cur)
        keep = new > tol
        if not keep.any():  # numerically degenerate: keep the largest coordinate
            keep[int(np.argmax(new))] = True
        w = np.zeros_like(w)
        w[idx[keep]] = new[keep]
        w /= w.sum()
        free[:] = [int(i) for i in idx[keep]]
    return w


def simplex_ls(A: np.ndarray, b: np.ndarray, *, tol: float = 1e-10) -> np.ndarray:
    """``argmin ||A w - b||^2`` over the unit simplex (columns of ``A`` are donors)."""
    return simplex_qp(A.T @ A, A.T @ b, tol=tol)


def fw_step(A: np.ndarray, x: np.ndarray, b: np.ndarray, eta: float) -> np.ndarray:
    """One Frank-Wolfe step with exact line search for ``||Ax - b||^2 + eta ||x||^2``."""
    Ax = A @ x
    half_grad = (Ax - b) @ A + eta * x
    i = int(np.argmin(half_grad))
    d_x = -x
    d_x[i] = 1.0 - x[i]
    if not np.any(d_x):
        return x
    d_err = A[:, i] - Ax
    denom = float(d_err @ d_err + eta * (d_x @ d_x))
    if denom <= 0:
        return x
    step = -float(half_grad @ d_x) / denom
    return x + min(1.0, max(0.0, step)) * d_x


def fw_batch(
    G: np.ndarray,
    c: np.ndarray,
    bb: np.ndarray,
    n: float,
    zeta: float,
    start: np.ndarray,
    *,
    forbid: np.ndarray | None = None,
    min_decrease: float = 1e-3,
    max_iter: int = 1000,
) -> np.ndarray:
    """Frank-Wolfe with exact line search on ``P`` problems at once (``synthdid::sc.weight.fw``).

    Problem ``p`` minimises ``zeta^2 ||x||^2 + (x'G_p x - 2 c_p'x + bb_p) / n`` over the simplex
    (``G_p = A'A``, ``c_p = A'b``, ``bb_p = b'b`` of the ``n``-row least-squares problem, ridge
    ``eta = n zeta^2`` in the step), from ``start[p]``; ``forbid[p]`` marks coordinates held at
    zero. Each problem stops on its own once a step lowers its objective by less than
    ``min_decrease^2`` (the step that shows it is kept), or after ``max_iter`` steps. The iterates
    are those of :func:`fw_step`; inner products are updated in closed form along the one vertex
    each step moves towards, so a step costs O(k) per problem.
    """
    P, k = start.shape
    rows = np.arange(P)
    eta = n * zeta**2
    z2 = zeta**2
    x = np.array(start, dtype=float)
    Gx = np.einsum("pij,pj->pi", G, x)
    hg = Gx - c + eta * x
    pen = np.where(forbid, np.inf, 0.0) if forbid is not None else np.zeros((P, k))
    gdiag = np.einsum("pii->pi", G)
    xx = np.einsum("pi,pi->p", x, x)
    xGx = np.einsum("pi,pi->p", x, Gx)
    cx = np.einsum("pi,pi->p", c, x)
    active = np.ones(P, dtype=bool)
    last = np.full(P, np.inf)
    tol = min_decrease**2
    for it in range(max_iter):
        i = np.argmin(hg + pen, axis=1)
        xi = x[rows, i]
        hgi = hg[rows, i]
        ci = c[rows, i]
        gxi = hgi + ci - eta * xi
        gii = gdiag[rows, i]
        slope = hgi - (xGx - cx + eta * xx)
        denom = (gii - 2.0 * gxi + xGx) + eta * (xx - 2.0 * xi + 1.0)
        moving = active & ~((xi == 1.0) & (xx == 1.0)) & (denom > 0)
        step = np.where(moving, np.clip(-slope / np.where(denom > 0, denom, 1.0), 0.0, 1.0), 0.0)
        keep = 1.0 - step
        x *= keep[:, None]
        x[rows, i] += step
        hg *= keep[:, None]
        hg += step[:, None] * (G[rows, :, i] - c)
        hg[rows, i] += step * eta
        xx = keep**2 * xx + 2.0 * step * keep * xi + step**2
        xGx = keep**2 * xGx + 2.0 * step * keep * gxi + step**2 * gii
        cx = keep * cx + step * ci
        val = z2 * xx + (xGx - 2.0 * cx + bb) / n
        if it >= 1:
            active &= last - val > tol
            if not active.any():
                break
        last = np.where(active, val, last)
        if P > 1 and active.sum() <= 2:  # the stragglers: finish them one by one, cheaper
            for p in np.flatnonzero(active):
                x[p] = _fw_single(
                    G[p],
                    c[p],
                    float(bb[p]),
                    n,
                    zeta,
                    x[p],
                    min_decrease,
                    max_iter,
                    pen=None if forbid is None else pen[p],
                    it0=it + 1,
                    last=float(last[p]),
                )
            break
    return x


def _fw_single(
    G: np.ndarray,
    c: np.ndarray,
    bb: float,
    n: float,
    zeta: float,
    x: np.ndarray,
    min_decrease: float,
    max_iter: int,
    *,
    pen: np.ndarray | None = None,
    it0: int = 0,
    last: float = np.inf,
) -> np.ndarray:
    """:func:`fw_batch` for one problem (scalar bookkeeping in Python floats), from step ``it0``."""
    eta = n * zeta**2
    z2 = zeta**2
    x = np.array(x, dtype=float)
    Gx = G @ x
    hg = Gx - c + eta * x
    D = G - c[:, None]  # column i: G[:, i] - c
    gdiag = np.diag(G).tolist()
    cl = c.tolist()
    xx, xGx, cx = float(x @ x), float(x @ Gx), float(c @ x)
    tol = min_decrease**2
    for it in range(it0, max_iter):
        i = int(hg.argmin()) if pen is None else int((hg + pen).argmin())
        xi = float(x[i])
        hgi = float(hg[i])
        gxi = hgi + cl[i] - eta * xi
        slope = hgi - (xGx - cx + eta * xx)
        denom = (gdiag[i] - 2.0 * gxi + xGx) + eta * (xx - 2.0 * xi + 1.0)
        if not (xi == 1.0 and xx == 1.0) and denom > 0:
            step = min(1.0, max(0.0, -slope / denom))
            keep = 1.0 - step
            x *= keep
            x[i] += step
            hg *= keep
            hg += step * D[:, i]
            hg[i] += step * eta
            xx = keep * keep * xx + 2.0 * step * keep * xi + step * step
            xGx = keep * keep * xGx + 2.0 * step * keep * gxi + step * step * gdiag[i]
            cx = keep * cx + step * cl[i]
        val = z2 * xx + (xGx - 2.0 * cx + bb) / n
        if it >= 1 and not (last - val > tol):
            break
        last = val
    return x


def fw_weights(
    Y: np.ndarray,
    zeta: float,
    *,
    intercept: bool = True,
    start: np.ndarray | None = None,
    min_decrease: float = 1e-3,
    max_iter: int = 1000,
) -> np.ndarray:
    """Weights on the first ``T0`` columns of ``Y`` (``N x (T0+1)``) predicting the last column.

    Penalty ``zeta^2 * ||w||^2`` per row (ridge ``eta = N * zeta^2`` on the summed squares),
    optional intercept (columns centred), as ``synthdid::sc.weight.fw``; see :func:`fw_batch`.
    """
    n, t1 = Y.shape
    t0 = t1 - 1
    x0 = np.full(t0, 1.0 / t0) if start is None else np.array(start, dtype=float)
    if intercept:
        Y = Y - Y.mean(axis=0)
    A, b = Y[:, :t0], Y[:, t0]
    return _fw_single(A.T @ A, A.T @ b, float(b @ b), float(n), zeta, x0, min_decrease, max_iter)


def sparsify(v: np.ndarray) -> np.ndarray:
    """synthdid's sparsification: zero weights at most a quarter of the largest, renormalise."""
    v = np.array(v, dtype=float)
    v[v <= v.max() / 4.0] = 0.0
    s = v.sum()
    return v / s if s > 0 else np.full(v.size, 1.0 / v.size)
