"""Kernel-weighted Gram and cross moments of a window from per-chunk power sums.

Every kernel window of one side is a run of rows that starts at the cutoff (rows sorted by x),
and on its support the kernel is a polynomial in u = x - c (s the side's sign, |u| = s u):

* triangular:   K u^m = (u^m - (s / h) u^(m+1)) / h,
* epanechnikov: K u^m = 0.75 (u^m - u^(m+2) / h^2) / h,
* uniform:      K u^m = (0.5 / h) u^m.

So a fit's sums sum K u^m d_j over a window are linear combinations of the plain power sums
A_m = sum u^m d_j of its rows. :class:`PowerTable` sums those once per side, chunk by chunk
from the cutoff outward, and every later fit reads the chunks it covers instead of passing over
their rows again.

Precision: the combination subtracts, e.g. for the triangular kernel, (1/h) A_(m+1) from A_m,
which loses digits where the kernel is close to 0. A chunk is therefore read from the table only
when all its rows have |u| <= theta h: a row's terms then sum to at most (1 + theta) / (1 - theta)
(triangular; (1 + theta^2) / (1 - theta^2) epanechnikov) times its weighted value, so the
rounding error of the combination is at most :data:`AMPLIFICATION` times that of summing the
weighted terms directly (the powers u^m themselves are the same products either way). The rows
beyond, where the kernel falls to 0, are summed directly with their kernel weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["AMPLIFICATION", "PowerTable", "kernel_moments", "reach"]

AMPLIFICATION = 4.0
# theta with (1 + theta) / (1 - theta) = AMPLIFICATION (triangular), (1 + theta^2) / (1 - theta^2)
# = AMPLIFICATION (epanechnikov)
_THETA = {
    "triangular": (AMPLIFICATION - 1) / (AMPLIFICATION + 1),  # 0.6
    "epanechnikov": float(np.sqrt((AMPLIFICATION - 1) / (AMPLIFICATION + 1))),
    "uniform": 1.0,
}
_DEGREE = {"triangular": 1, "epanechnikov": 2, "uniform": 0}

_add_reduce = np.add.reduce


def reach(kernel: str) -> tuple[float, int]:
    """(theta, the kernel's degree in u) for a kernel name."""
    return _THETA[kernel], _DEGREE[kernel]


def kernel_moments(a: np.ndarray, h: float, kernel: str, sign: float, m_max: int) -> np.ndarray:
    """sum K u^m (m <= m_max) from plain power sums ``a`` (a[m] = sum u^m, along axis 0)."""
    if kernel == "uniform":
        return np.asarray(a[: m_max + 1] * (0.5 / h))
    if kernel == "epanechnikov":
        return np.asarray((a[: m_max + 1] - a[2 : m_max + 3] / (h * h)) * (0.75 / h))
    return np.asarray((a[: m_max + 1] - a[1 : m_max + 2] * (sign / h)) / h)


class PowerTable:
    """Cumulative sums of u^m (m <= m_pow) and u^m d (m <= m_cols) over whole chunks of one
    side's rows, counted from the cutoff outward and built as far as they are asked for.

    ``chunk_values(k)``, passed to :meth:`upto`, returns (u, d) of chunk k (rows nearest the
    cutoff first). It is not kept: a table held by a feeder must not hold the feeder (a
    reference cycle would keep the feeder's rows alive until the garbage collector runs).
    """

    def __init__(self, n_chunks: int, m_pow: int, m_cols: int, ncols: int) -> None:
        self.n_chunks, self.m_pow, self.m_cols, self.ncols = n_chunks, m_pow, m_cols, ncols
        self._pow = [np.zeros(m_pow + 1)]  # after k chunks
        self._cols = [np.zeros((m_cols + 1, ncols))]
        self._run: np.ndarray | None = None

    def fits(self, m_pow: int, m_cols: int) -> bool:
        return m_pow <= self.m_pow and m_cols <= self.m_cols

    def upto(
        self, k: int, chunk_values: Callable[[int], tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(sum u^m, sum u^m d) over chunks 0..k-1."""
        while len(self._pow) <= k:
            self._add(*chunk_values(len(self._pow) - 1))
        return self._pow[k], self._cols[k]

    def _add(self, u: np.ndarray, d: np.ndarray) -> None:
        if self._run is None or self._run.size < u.size:
            self._run = np.empty(u.size)
        run = self._run[: u.size]
        run.fill(1.0)
        pw = np.empty(self.m_pow + 1)
        cols = np.empty((self.m_cols + 1, self.ncols))
        for m in range(self.m_pow + 1):
            pw[m] = _add_reduce(run)
            if m <= self.m_cols:
                cols[m] = np.einsum("i,ij->j", run, d)  # not BLAS: its threads would spin
            if m < self.m_pow:
                run *= u
        self._pow.append(self._pow[-1] + pw)
        self._cols.append(self._cols[-1] + cols)
