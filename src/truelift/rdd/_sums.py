"""What the RD kernel asks of the data: kernel-weighted power sums on one side of the cutoff.

Every local fit of rdrobust's algorithm (Calonico, Cattaneo & Titiunik 2014) - the pilot fits of
the bandwidth selector and the final fit - needs only sums over the rows inside a kernel window
of a product of per-row factors times (x - c)^m: the Gram moments sum K u^m, the cross moments
sum K u^m d_j, and, for the HC0/HC1 and CR1 variances, sum (K r)^2 u^m or per-cluster sum K r u^j
with r a residual that is a polynomial in u plus a linear combination of the outcome columns.
:class:`Req` describes one such sum; a *feeder* evaluates a batch of them. Two feeders exist and
the kernel (``bandwidth.py``, ``_fit_moments.py``) cannot tell them apart:

* :class:`ArrayFeeder` (this module): numpy arrays in memory;
* ``truelift.rdd._engine.EngineFeeder``: one narwhals lazy aggregation per batch, run where the
  rows live (DuckDB, polars, Spark); only the sums leave the engine.

Nearest-neighbour residuals (``vce="nn"``) need each row's sorted neighbours, and HC2/HC3 need
per-row leverages on a basis; those requests are answered from rows (:meth:`ArrayFeeder.rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from truelift.rdd._kernels import (
    gram_moments,
    kweight,
    meat,
    nn_residuals,
    poly_eval,
    power_moments,
    residuals,
    vander,
)
from truelift.rdd.bins import side_bins

__all__ = [
    "ArrayFeeder",
    "Col",
    "Feeder",
    "Ind",
    "Kern",
    "Poly",
    "Req",
    "Resid",
    "Side",
    "WindowSums",
    "has_distinct",
    "n_distinct",
]


@dataclass(frozen=True)
class Kern:
    """Kernel weight K((x - c)/h)/h; as a window: the rows where it is positive."""

    h: float
    kernel: str


@dataclass(frozen=True)
class Ind:
    """Indicator that a kernel weight is positive (for effective sample sizes)."""

    k: Kern


@dataclass(frozen=True)
class Poly:
    """The polynomial sum_k coefs[k] u^k of u = x - c."""

    coefs: tuple[float, ...]


@dataclass(frozen=True)
class Col:
    """Column j of the outcome block d = (y, [t], [z1, ...])."""

    j: int


@dataclass(frozen=True)
class Resid:
    """Residual (d @ s - poly(coefs, u)) * scale, or with ``nn`` > 0 the nearest-neighbour
    residual of d @ s among the window's rows (``nn`` matches; ``coefs``, ``scale`` unused)."""

    s: tuple[float, ...]
    coefs: tuple[float, ...] = ()
    scale: float = 1.0
    nn: int = 0


Factor = Kern | Ind | Poly | Col | Resid


@dataclass(frozen=True)
class Req:
    """sum over the window of prod(factors) * u^m for m = 0..m_max.

    ``cols`` >= 0 also asks for sum prod * u^m * d_j for m = 0..cols and every column j (the
    answer is then the pair (moments, cross moments)); ``by_cluster`` asks for the sums per
    cluster (a G x (m_max + 1) array, clusters in the same order for every request of a batch).
    """

    factors: tuple[Factor, ...]
    m_max: int
    cols: int = -1
    by_cluster: bool = False


@dataclass(frozen=True)
class WindowSums:
    """Answers to a batch: the window's row count, whether it holds enough distinct x values,
    and one entry per request."""

    n: int
    distinct_ok: bool
    out: list[Any] = field(default_factory=list)


class Feeder(Protocol):
    """One side of the cutoff, as the kernel sees it."""

    c: float
    n: int
    x_min: float
    x_max: float
    ncols: int
    has_t: bool
    has_z: bool
    clustered: bool

    def sums(self, win: Kern, reqs: Sequence[Req], distinct: int = 0) -> WindowSums: ...

    def nearest_distinct(self, k: int) -> np.ndarray: ...

    def rows(self, win: Kern) -> ArrayFeeder: ...

    def scaled(self, x_sd: float, y_sd: float, keep_t: bool) -> Feeder: ...

    def n_distinct(self) -> int: ...

    def bins(self, lo: float, hi: float) -> dict[str, list[float]]: ...

    def t_constant(self) -> bool: ...

    def n_clusters(self) -> int: ...


@dataclass(frozen=True)
class Side:
    """The observations on one side of the cutoff.

    Either sorted by the running variable (``xs`` is None; windows are slices), or in any order
    with ``xs`` a sorted copy of ``x`` (windows are index arrays; ``xs`` answers the questions
    about distinct values). Only the nearest-neighbour variance needs the sorted layout.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray | None = None
    z: np.ndarray | None = None
    cl: np.ndarray | None = None
    xs: np.ndarray | None = None

    @property
    def sorted_x(self) -> np.ndarray:
        return self.x if self.xs is None else self.xs

    def outcomes(self, mask: np.ndarray | slice = slice(None)) -> np.ndarray:
        if self.t is None and self.z is None:
            return self.y[mask][:, None]  # a view when mask is a slice
        cols = [self.y[mask][:, None]]
        if self.t is not None:
            cols.append(self.t[mask][:, None])
        if self.z is not None:
            cols.append(self.z[mask])
        return np.hstack(cols)

    def cluster(self, mask: np.ndarray | slice) -> np.ndarray | None:
        return None if self.cl is None else self.cl[mask]

    def window(self, c: float, h: float, kernel: str) -> tuple[slice | np.ndarray, np.ndarray]:
        """The rows with positive kernel weight at bandwidth h, and their weights.

        Sorted rows: the support |x - c| <= h is a slice found by binary search (with a margin);
        the weights are then computed exactly as rdrobust does on that slice only. Unsorted
        rows: the same support from the sorted copy decides whether every row is inside (no
        copy) or which rows are (an index array).
        """
        sl, w = sorted_window(self.sorted_x, c, h, kernel)
        if self.xs is None:
            return sl, w
        if sl.stop - sl.start == self.x.size:
            return slice(None), kweight(self.x, c, h, kernel)
        pad = h * (1 + 1e-9) + 1e-300
        idx = np.flatnonzero(np.abs(self.x - c) <= pad)
        w = kweight(self.x[idx], c, h, kernel)
        keep = w > 0
        return idx[keep], w[keep]

    def scaled(self, x_sd: float, y_sd: float, keep_t: bool) -> Side:
        return Side(
            x=self.x / x_sd,
            y=self.y / y_sd,
            t=self.t if keep_t else None,
            z=self.z,
            cl=self.cl,
            xs=None if self.xs is None else self.xs / x_sd,
        )


def sorted_window(xs: np.ndarray, c: float, h: float, kernel: str) -> tuple[slice, np.ndarray]:
    """Slice of a sorted array with positive kernel weight at bandwidth h, and the weights."""
    pad = h * (1 + 1e-9) + 1e-300
    lo = int(np.searchsorted(xs, c - pad, side="left"))
    hi = int(np.searchsorted(xs, c + pad, side="right"))
    w = kweight(xs[lo:hi], c, h, kernel)
    pos = np.flatnonzero(w > 0)
    if pos.size == 0:
        return slice(lo, lo), w[:0]
    return slice(lo + pos[0], lo + pos[-1] + 1), w[pos[0] : pos[-1] + 1]


def has_distinct(sorted_x: np.ndarray, k: int) -> bool:
    """Whether a sorted array holds at least k distinct values (k binary searches)."""
    pos, found = 0, 0
    while pos < sorted_x.size and found < k:
        found += 1
        pos = int(np.searchsorted(sorted_x, sorted_x[pos], side="right"))
    return found >= k


def n_distinct(sorted_x: np.ndarray) -> int:
    """Number of distinct values of a sorted array."""
    return 0 if sorted_x.size == 0 else 1 + int(np.count_nonzero(sorted_x[1:] != sorted_x[:-1]))


def _combined(d: np.ndarray, s: tuple[float, ...]) -> np.ndarray:
    if d.shape[1] == 1:
        return d[:, 0] * s[0] if s[0] != 1.0 else d[:, 0].copy()
    return np.asarray(np.einsum("ij,j->i", d, np.asarray(s)))


def _cluster_power_sums(
    codes: np.ndarray, prod: np.ndarray, u: np.ndarray, m_max: int
) -> np.ndarray:
    ng = int(codes.max()) + 1 if codes.size else 0
    run = prod.copy()
    sums = np.empty((ng, m_max + 1))
    for j in range(m_max + 1):
        sums[:, j] = np.bincount(codes, weights=run, minlength=ng)
        if j < m_max:
            run *= u
    return sums


class ArrayFeeder:
    """The kernel's sums computed with numpy on one side's rows in memory."""

    def __init__(self, side: Side, c: float, nnmatch: int = 3) -> None:
        self.side, self.c, self.nnmatch = side, c, nnmatch
        self.n = int(side.x.size)
        sx = side.sorted_x
        self.x_min = float(sx[0]) if self.n else float("nan")
        self.x_max = float(sx[-1]) if self.n else float("nan")
        self.has_t, self.has_z = side.t is not None, side.z is not None
        self.ncols = 1 + int(self.has_t) + (0 if side.z is None else side.z.shape[1])
        self.clustered = side.cl is not None
        self._nn: dict[tuple[float, str], np.ndarray] = {}
        self._last: tuple[Kern, tuple[Any, ...]] | None = (
            None  # a fit's window, reused by its variance
        )

    def scaled(self, x_sd: float, y_sd: float, keep_t: bool) -> ArrayFeeder:
        return ArrayFeeder(self.side.scaled(x_sd, y_sd, keep_t), self.c / x_sd, self.nnmatch)

    def nearest_distinct(self, k: int) -> np.ndarray:
        sx = self.side.sorted_x
        u = sx[np.r_[True, sx[1:] != sx[:-1]]]
        near = u[::-1][:k] if self.x_max < self.c else u[:k]
        return np.asarray(np.abs(near - self.c))

    def n_distinct(self) -> int:
        return n_distinct(self.side.sorted_x)

    def rows(self, win: Kern) -> ArrayFeeder:
        return self

    def bins(self, lo: float, hi: float) -> dict[str, list[float]]:
        return side_bins(self.side, lo, hi)

    def t_constant(self) -> bool:
        return self.side.t is None or bool(np.var(self.side.t) == 0)

    def n_clusters(self) -> int:
        return 0 if self.side.cl is None else int(np.unique(self.side.cl).size)

    def sums(self, win: Kern, reqs: Sequence[Req], distinct: int = 0) -> WindowSums:
        side, c = self.side, self.c
        if distinct and side.xs is not None:
            sl, w_sorted = sorted_window(side.xs, c, win.h, win.kernel)
            if not has_distinct(side.xs[sl], distinct):
                return WindowSums(int(w_sorted.size), False)
        if self._last is not None and self._last[0] == win:
            ind, w_win, ex, u, d = self._last[1]
        else:
            ind, w_win = side.window(c, win.h, win.kernel)
            ex = side.x[ind]
            u = ex - c
            d = side.outcomes(ind)
            self._last = (win, (ind, w_win, ex, u, d))
        if distinct and side.xs is None and not has_distinct(ex, distinct):  # sorted rows
            return WindowSums(int(w_win.size), False)
        cache: dict[Any, np.ndarray] = {win: w_win}

        def value(f: Factor) -> np.ndarray:
            if f not in cache:
                cache[f] = self._factor(f, ex, u, d, win, cache)
            return cache[f]

        out: list[Any] = []
        codes: np.ndarray | None = None
        for r in reqs:
            prod = value(r.factors[0])
            if len(r.factors) > 1:
                prod = prod * value(r.factors[1])
                for f in r.factors[2:]:
                    prod *= value(f)
            if r.by_cluster:
                if codes is None:
                    cl = side.cluster(ind)
                    codes = np.unique(cl, return_inverse=True)[1] if cl is not None else None
                assert codes is not None  # internal invariant: cluster sums need clusters
                out.append(_cluster_power_sums(codes, prod, u, r.m_max))
            elif r.cols >= 0:
                out.append(gram_moments(prod, u, r.m_max, d, r.cols))
            else:
                out.append(power_moments(prod, u, r.m_max))
        return WindowSums(int(u.size), True, out)

    def _factor(
        self, f: Factor, ex: np.ndarray, u: np.ndarray, d: np.ndarray, win: Kern, cache: dict
    ) -> np.ndarray:
        if isinstance(f, Kern):
            return kweight(ex, self.c, f.h, f.kernel)
        if isinstance(f, Ind):
            w = cache[f.k] if f.k in cache else kweight(ex, self.c, f.k.h, f.k.kernel)
            return (w > 0).astype(np.float64)
        if isinstance(f, Poly):
            return poly_eval(np.asarray(f.coefs), u)
        if isinstance(f, Col):
            return np.ascontiguousarray(d[:, f.j], dtype=np.float64)
        if f.nn:
            key = (win.h, win.kernel)
            if key not in self._nn:
                if self.side.xs is not None:
                    raise AssertionError("nearest-neighbour residuals need rows sorted by x")
                self._nn[key] = nn_residuals(ex, d, f.nn)
            return _combined(self._nn[key], f.s)
        r = _combined(d, f.s)
        r -= poly_eval(np.asarray(f.coefs), u)
        if f.scale != 1.0:
            r *= f.scale
        return r

    def basis_variance(
        self, win: Kern, o: int, beta: np.ndarray, inv_g: np.ndarray, s: np.ndarray, vce: str
    ) -> np.ndarray:
        """Sandwich variance of an order-o fit with per-row leverages (HC2/HC3) from a basis."""
        ind, ew = self.side.window(self.c, win.h, win.kernel)
        u = self.side.x[ind] - self.c
        basis = vander(u, o)
        res = residuals(
            u, self.side.outcomes(ind), basis, beta, inv_g, ew, vce, self.nnmatch, self.clustered
        )
        bw = basis * ew[:, None]
        return np.asarray(inv_g @ meat(bw, res, s, self.side.cluster(ind)) @ inv_g)
