"""Callaway & Sant'Anna ATT(g,t) without covariates from per-cohort moments (one kernel, two feeds).

Under unconditional parallel trends on a balanced panel the doubly robust, IPW and regression
2x2 estimators coincide with the difference of mean changes,
``ATT(g,t) = mean_{G=g}(Y_t - Y_b) - mean_{C}(Y_t - Y_b)``, and the influence function of a unit
in cohort c is affine in its outcome path: ``psi_ik = a[c, k] * (Y_i,t_k - Y_i,b_k) + B[c, k]``
with ``a = n/N_g, B = -a mu1`` in the treated cohort and ``a = -n/N_C, B = -a mu0`` in the
comparison group (R ``did``'s ``att.inf.func`` scaled by n/n1). Everything the estimator
reports therefore depends on the data only through, per cohort, the count N_c, the sums of each
period's outcome s_c and their cross-products Q_c = sum Y_i Y_i' (per cluster and cohort: count
and sums). :func:`cells` computes ATT(g,t) and (a, B) from those moments; the in-memory path
evaluates psi on its rows (:func:`row_inf`), the engine path on a few pseudo-rows per cohort that
reproduce every sum of squares and cluster sum exactly (:func:`pseudo_inf`), and both feed the
same aggregation code (:mod:`truelift.did._aggregate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from truelift.errors import IdentificationError

__all__ = ["Moments", "cells", "from_arrays", "pseudo_inf", "row_inf"]


@dataclass
class Moments:
    """Per-cohort moments of the outcome paths (cohort 0 = never treated)."""

    tlist: np.ndarray
    cohort: np.ndarray  # (C,) sorted cohort values
    N: np.ndarray  # (C,)
    s: np.ndarray  # (C, T)
    Q: np.ndarray | None = None  # (C, T, T); None when clustered
    cl_code: np.ndarray | None = None  # (R,) cluster code of each (cluster, cohort) row
    cl_cidx: np.ndarray | None = None  # (R,) cohort index of each row
    cl_N: np.ndarray | None = None  # (R,)
    cl_s: np.ndarray | None = None  # (R, T)
    notes: list[str] = field(default_factory=list)
    cohorts_used: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def n(self) -> float:
        return float(self.N.sum())


def from_arrays(
    Y: np.ndarray, unit_g: np.ndarray, tlist: np.ndarray, *, with_q: bool = False
) -> tuple[Moments, np.ndarray]:
    """Moments from the in-memory T x n outcome matrix, and each unit's cohort index."""
    coh, idx = np.unique(unit_g, return_inverse=True)
    idx = idx.ravel()
    N = np.bincount(idx, minlength=coh.size).astype(float)
    s = np.stack([np.bincount(idx, weights=Y[t], minlength=coh.size) for t in range(Y.shape[0])], 1)
    Q = np.stack([Y[:, idx == c] @ Y[:, idx == c].T for c in range(coh.size)]) if with_q else None
    return Moments(tlist, coh, N, s, Q), idx


def cells(
    m: Moments,
    plan: list[tuple[float, int, int, int]],
    control: str,
    anticipation: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ATT per planned (g, current, base, threshold) cell; coefficients a, B (C x K); the
    K x T contrasts E (e_cur - e_base); units used per cell (2 rows each)."""
    tl, K, C = m.tlist, len(plan), m.cohort.size
    n = m.n
    att, used = np.empty(K), np.empty(K, dtype=np.int64)
    a, B, E = np.zeros((C, K)), np.zeros((C, K)), np.zeros((K, tl.size))
    for k, (g, cur, b, thr) in enumerate(plan):
        E[k, cur] += 1.0
        E[k, b] -= 1.0
        ig = int(np.searchsorted(m.cohort, g))
        comp = m.cohort == 0
        if control == "notyet":
            comp |= (m.cohort > tl[thr] + anticipation) & (m.cohort != g)
        NC, Ng = float(m.N[comp].sum()), float(m.N[ig])
        if NC == 0:
            raise IdentificationError(
                f"no comparison units for cohort g={g:g}, period t={tl[cur]:g}; try "
                "control='notyet' or check the cohorts."
            )
        mu1 = float(E[k] @ m.s[ig]) / Ng
        mu0 = float(E[k] @ m.s[comp].sum(axis=0)) / NC
        att[k] = mu1 - mu0
        a[ig, k], B[ig, k] = n / Ng, -n / Ng * mu1
        a[comp, k], B[comp, k] = -n / NC, n / NC * mu0
        used[k] = 2 * round(Ng + NC)
    return att, a, B, E, used


def row_inf(
    a: np.ndarray, B: np.ndarray, E: np.ndarray, Y: np.ndarray, cidx: np.ndarray
) -> np.ndarray:
    """n x K influence functions on the rows (T x n outcome matrix, cohort index per unit)."""
    inf = np.zeros((cidx.size, E.shape[0]), order="F")
    for k in range(E.shape[0]):
        dy = E[k] @ Y
        inf[:, k] = a[cidx, k] * dy + B[cidx, k]
    return inf


def pseudo_inf(
    m: Moments, a: np.ndarray, B: np.ndarray, E: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Pseudo-rows reproducing every sum of psi psi' (or every cluster sum of psi).

    Returns (inf, cohort value per row, multiplier per row for per-unit constants such as the
    aggregation's estimated-weights term, cluster code per row or None). Unclustered: per cohort
    one mean row (weight sqrt(N_c)) and T rows from a square root of the centred Gram matrix
    (multiplier 0: per-cohort constants do not load on them). Clustered: one row per (cluster,
    cohort) holding that cell's sum of psi (multiplier N_gc).
    """
    if m.cl_N is not None and m.cl_s is not None and m.cl_cidx is not None:
        ci = m.cl_cidx
        inf = a[ci] * (m.cl_s @ E.T) + m.cl_N[:, None] * B[ci]
        return inf, m.cohort[ci], m.cl_N.astype(float), m.cl_code
    if m.Q is None:
        raise ValueError("unclustered moments need the cross-products Q")
    rows, coh, mult = [], [], []
    for c in range(m.cohort.size):
        Nc = m.N[c]
        if Nc == 0:
            continue
        ybar = m.s[c] / Nc
        rows.append(np.sqrt(Nc) * (a[c] * (E @ ybar) + B[c]))
        coh.append(m.cohort[c])
        mult.append(np.sqrt(Nc))
        S = m.Q[c] - Nc * np.outer(ybar, ybar)
        w, V = np.linalg.eigh((S + S.T) / 2)
        L = V * np.sqrt(np.maximum(w, 0.0))
        rows.extend(a[c] * (E @ L).T)
        coh.extend([m.cohort[c]] * L.shape[1])
        mult.extend([0.0] * L.shape[1])
    return np.vstack(rows), np.array(coh, dtype=float), np.array(mult), None
