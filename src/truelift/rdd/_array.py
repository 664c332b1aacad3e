"""The kernel's sums on one side's rows in memory, rows sorted by the running variable.

Every kernel window |x - c| <= h is then a contiguous run of rows, found by two binary searches,
and each sum a fit asks for is one compiled loop over the window's rows
(:func:`truelift.rdd._jit.kernel_sums`): no window-sized temporaries. The bandwidth selector works
on the standardised scale (x / sd(x), y / sd(y), as rdrobust): a :class:`Side` carries the scale
and the loops divide each value read, which gives the same values as dividing the whole column
first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from truelift.rdd._kernels import (
    kweight,
    meat,
    nn_residuals,
    residuals,
    vander,
)
from truelift.rdd._sums import (
    Col,
    Factor,
    Ind,
    Kern,
    Poly,
    Req,
    Resid,
    WindowSums,
    has_distinct,
    n_distinct,
)
from truelift.rdd.bins import side_bins

__all__ = ["ArrayFeeder", "Side"]


@dataclass(frozen=True)
class Side:
    """The observations on one side of the cutoff, sorted by the running variable.

    ``x_scale``/``y_scale`` (standardisation of the bandwidth selector): the values are
    ``x / x_scale`` and ``y / y_scale``, computed on the rows read.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray | None = None
    z: np.ndarray | None = None
    cl: np.ndarray | None = None
    x_scale: float = 1.0
    y_scale: float = 1.0

    def xv(self, rows: slice = slice(None)) -> np.ndarray:
        v = self.x[rows]
        return v if self.x_scale == 1.0 else v / self.x_scale

    def outcomes(self, rows: slice = slice(None)) -> np.ndarray:
        y = self.y[rows] if self.y_scale == 1.0 else self.y[rows] / self.y_scale
        if self.t is None and self.z is None:
            return y[:, None]  # a view when unscaled
        cols = [y[:, None]]
        if self.t is not None:
            cols.append(self.t[rows][:, None])
        if self.z is not None:
            cols.append(self.z[rows])
        return np.hstack(cols)

    def cluster(self, rows: slice) -> np.ndarray | None:
        return None if self.cl is None else self.cl[rows]

    def window_rows(self, c: float, h: float, kernel: str) -> slice:
        """The rows with positive kernel weight at bandwidth h (|x - c| <= h on this scale).

        Binary searches on the stored x with a margin find the rows surely inside and a thin
        band at each end; the kernel weight is evaluated (exactly as rdrobust) on the bands only.
        """
        s = self.x_scale
        slack = 4e-15 * (abs(c) + h)
        outer, inner = h * (1 + 4e-9) + slack + 1e-300, h * (1 - 4e-9) - slack
        lo = int(np.searchsorted(self.x, (c - outer) * s, side="left"))
        hi = int(np.searchsorted(self.x, (c + outer) * s, side="right"))
        if inner > 0:
            ilo = max(lo, int(np.searchsorted(self.x, (c - inner) * s, side="left")))
            ihi = min(hi, int(np.searchsorted(self.x, (c + inner) * s, side="right")))
        else:
            ilo = ihi = hi
        if ilo >= ihi:  # no row surely inside: weigh the whole padded range
            pos = np.flatnonzero(kweight(self.xv(slice(lo, hi)), c, h, kernel) > 0)
            return slice(lo, lo) if pos.size == 0 else slice(lo + pos[0], lo + pos[-1] + 1)
        left = np.flatnonzero(kweight(self.xv(slice(lo, ilo)), c, h, kernel) > 0)
        right = np.flatnonzero(kweight(self.xv(slice(ihi, hi)), c, h, kernel) > 0)
        a = lo + int(left[0]) if left.size else ilo
        b = ihi + int(right[-1]) + 1 if right.size else ihi
        return slice(a, b)

    def window(self, c: float, h: float, kernel: str) -> tuple[slice, np.ndarray]:
        """The window's rows and their kernel weights."""
        rows = self.window_rows(c, h, kernel)
        return rows, kweight(self.xv(rows), c, h, kernel)

    def scaled(self, x_sd: float, y_sd: float, keep_t: bool) -> Side:
        if self.x_scale != 1.0 or self.y_scale != 1.0:
            raise AssertionError("a side is standardised once")
        return replace(self, t=self.t if keep_t else None, x_scale=x_sd, y_scale=y_sd)


def _nearest_values(x: np.ndarray, k: int, from_end: bool) -> np.ndarray:
    """The k distinct values of sorted x nearest its start (or end), by binary searches."""
    out: list[float] = []
    if from_end:
        pos = x.size
        while pos > 0 and len(out) < k:
            v = x[pos - 1]
            out.append(float(v))
            pos = int(np.searchsorted(x, v, side="left"))
    else:
        pos = 0
        while pos < x.size and len(out) < k:
            v = x[pos]
            out.append(float(v))
            pos = int(np.searchsorted(x, v, side="right"))
    return np.asarray(out)


def _columns(side: Side) -> np.ndarray:
    """The outcome columns y, [t], [z...] of a side as one C-ordered n x k array (unscaled)."""
    y = np.ascontiguousarray(side.y, dtype=np.float64)
    if side.t is None and side.z is None:
        return y.reshape(-1, 1)
    parts = [y[:, None]] + ([] if side.t is None else [side.t[:, None]])
    d = np.hstack([*parts, *([] if side.z is None else [side.z])])
    return np.ascontiguousarray(d, dtype=np.float64)


def _plain(f: Factor) -> Factor:
    """A factor as its values go: nearest-neighbour residuals do not depend on the fit."""
    return Resid(f.s, nn=f.nn) if isinstance(f, Resid) and f.nn else f


def _head(out: Any, r: Req) -> Any:
    """The entries of a kept answer for m <= r.m_max (and columns' m <= r.cols): the same
    values, since the sums for each power are accumulated independently of higher ones."""
    if r.by_cluster:
        return out[:, : r.m_max + 1]
    if r.cols >= 0:
        return out[0][: r.m_max + 1], out[1][: r.cols + 1]
    return out[: r.m_max + 1]


class ArrayFeeder:
    """The kernel's sums computed in compiled loops on one side's sorted rows in memory."""

    threads = True  # the two sides' fits may run at once (truelift.rdd._threads)

    def __init__(self, side: Side, c: float, nnmatch: int = 3, d: np.ndarray | None = None) -> None:
        self.side, self.c, self.nnmatch = side, c, nnmatch
        self.n = int(side.x.size)
        self.x_min = float(side.xv(slice(0, 1))[0]) if self.n else float("nan")
        self.x_max = float(side.xv(slice(self.n - 1, self.n))[0]) if self.n else float("nan")
        self.negative = self.n > 0 and self.x_max < c  # the rows left of the cutoff
        self.has_t, self.has_z = side.t is not None, side.z is not None
        self.ncols = 1 + int(self.has_t) + (0 if side.z is None else side.z.shape[1])
        self.clustered = side.cl is not None
        # nearest-neighbour residuals by window (rdrobust matches within the window)
        self._nn: dict[tuple[float, str], np.ndarray] = {}
        self._windows: dict[Kern, slice] = {}
        self._cluster_codes: dict[tuple[int, int], tuple[np.ndarray, int]] = {}
        # the outcome columns (y, [t], [z...]) as one n x k array (a view of y alone), unscaled;
        # the sums divide column 0 by y_scale
        self._x = np.ascontiguousarray(side.x, dtype=np.float64)
        self._d = d if d is not None else _columns(side)
        self._d_scale = np.ones(self.ncols)
        self._d_scale[0] = side.y_scale
        # sums of a batch by window and factors: a batch asking for lower powers (the pilot
        # fits of orders 3, 2, 1 share a window) reads their leading entries
        self._kept: dict[Any, tuple[list[Req], list[Any]]] = {}

    def scaled(self, x_sd: float, y_sd: float, keep_t: bool) -> ArrayFeeder:
        side = self.side.scaled(x_sd, y_sd, keep_t)
        same = side.t is self.side.t  # the same columns: share them
        return ArrayFeeder(side, self.c / x_sd, self.nnmatch, self._d if same else None)

    def nearest_distinct(self, k: int) -> np.ndarray:
        near = _nearest_values(self.side.x, k, from_end=self.x_max < self.c)
        if self.side.x_scale != 1.0:
            near = near / self.side.x_scale
        return np.asarray(np.abs(near - self.c))

    def n_distinct(self) -> int:
        return n_distinct(self.side.x)

    def rows(self, win: Kern) -> ArrayFeeder:
        return self

    def bins(self, lo: float, hi: float) -> dict[str, list[float]]:
        return side_bins(self.side, lo, hi)

    def t_constant(self) -> bool:
        return self.side.t is None or bool(np.var(self.side.t) == 0)

    def n_clusters(self) -> int:
        return 0 if self.side.cl is None else int(np.unique(self.side.cl).size)

    def _rows(self, win: Kern) -> slice:
        if win not in self._windows:
            self._windows[win] = self.side.window_rows(self.c, win.h, win.kernel)
        return self._windows[win]

    def sums(self, win: Kern, reqs: Sequence[Req], distinct: int = 0) -> WindowSums:
        rows = self._rows(win)
        a, b = rows.start, rows.stop
        if distinct and not has_distinct(self.side.x[a:b], distinct):
            return WindowSums(b - a, False)
        key = (win, tuple((tuple(map(_plain, r.factors)), r.by_cluster) for r in reqs))
        kept = self._kept.get(key)
        if kept is not None and all(
            r.m_max <= k.m_max and r.cols <= k.cols for r, k in zip(reqs, kept[0], strict=True)
        ):
            return WindowSums(
                b - a, True, [_head(o, r) for o, r in zip(kept[1], reqs, strict=True)]
            )
        acc: list[Any] = [None] * len(reqs)
        rest = []
        for i, r in enumerate(reqs):
            acc[i] = self._count(r, a, b)
            if acc[i] is None:
                rest.append(i)
        if rest:
            # a request repeated in the batch (the nn meats' conventional and robust terms) is
            # summed once; the copies read the same answer
            first: dict[Req, int] = {}
            for i in rest:
                first.setdefault(reqs[i], i)
            for i in first.values():
                acc[i] = self._request(win, a, b, reqs[i])
            for i in rest:
                acc[i] = acc[first[reqs[i]]]
        if kept is None or sum(r.m_max for r in reqs) > sum(k.m_max for k in kept[0]):
            self._kept[key] = (list(reqs), acc)
        return WindowSums(b - a, True, acc)

    def _count(self, r: Req, a: int, b: int) -> np.ndarray | None:
        """The sum of an indicator of positive kernel weight over rows [a, b) (an effective
        sample size): the rows of its kernel's window inside [a, b), or None for other
        requests."""
        f = r.factors[0]
        if r.by_cluster or len(r.factors) != 1 or not isinstance(f, Ind) or r.m_max or r.cols >= 0:
            return None
        rk = self._rows(f.k)
        return np.array([float(max(0, min(rk.stop, b) - max(rk.start, a)))])

    def _request(self, win: Kern, a: int, b: int, r: Req) -> Any:
        """One request's sums over the window's rows [a, b) in one compiled loop
        (:func:`truelift.rdd._jit.kernel_sums`): a product of kernel weights (one kernel),
        polynomials, outcome columns and copies of one residual, times u^m."""
        kerns: list[float] = []
        polys: list[tuple[float, ...]] = []
        cols: list[int] = []
        resid: list[Resid] = []
        kernel = win.kernel
        for f in r.factors:
            if isinstance(f, Ind):
                raise AssertionError("an indicator is asked for alone, as a count (_count)")
            if isinstance(f, Kern):
                if f.kernel != kernel:
                    raise AssertionError("one kernel per request")
                kerns.append(f.h)
            elif isinstance(f, Poly):
                polys.append(f.coefs)
            elif isinstance(f, Col):
                cols.append(f.j)
            elif not resid or f == resid[0]:
                resid.append(f)
            else:
                raise AssertionError("one residual per request")
        residual, nn = None, None
        if resid:
            rf = resid[0]
            residual = (rf.s, rf.coefs, rf.scale)
            if rf.nn:
                nn = (self._nn_source(win, a, b), a)
        codes = self._codes(a, b) if r.by_cluster else None
        from truelift.rdd import _jit

        return _jit.kernel_sums(
            self._x,
            self._d,
            a,
            b,
            x_scale=self.side.x_scale,
            d_scale=self._d_scale,
            c=self.c,
            kernel=kernel,
            negative=self.negative,
            kerns=tuple(kerns),
            polys=tuple(polys),
            cols=tuple(cols),
            residual=residual,
            n_resid=len(resid),
            nn=nn,
            codes=codes,
            m_max=r.m_max,
            m_cols=r.cols,
        )

    def _codes(self, a: int, b: int) -> tuple[np.ndarray, int]:
        """Cluster codes 0..G-1 of rows [a, b) (the same order for every request) and G."""
        if (a, b) not in self._cluster_codes:
            cl = self.side.cluster(slice(a, b))
            assert cl is not None  # internal invariant: cluster sums need clusters
            uniq, codes = np.unique(cl, return_inverse=True)
            self._cluster_codes[(a, b)] = (codes.astype(np.int64), int(uniq.size))
        return self._cluster_codes[(a, b)]

    def _nn_source(self, win: Kern, a: int, b: int) -> np.ndarray:
        """The nearest-neighbour residuals of the window's rows [a, b) (matched within it)."""
        key = (win.h, win.kernel)
        out = self._nn.get(key)
        if out is None:
            out = nn_residuals(
                self._x[a:b], self._d[a:b], self.nnmatch, self.side.x_scale, self.side.y_scale
            )
            self._nn[key] = out
        return out

    def basis_variance(
        self, win: Kern, o: int, beta: np.ndarray, inv_g: np.ndarray, s: np.ndarray, vce: str
    ) -> np.ndarray:
        """Sandwich variance of an order-o fit with per-row leverages (HC2/HC3) from a basis."""
        rows, ew = self.side.window(self.c, win.h, win.kernel)
        u = self.side.xv(rows) - self.c
        basis = vander(u, o)
        res = residuals(
            u, self.side.outcomes(rows), basis, beta, inv_g, ew, vce, self.nnmatch, self.clustered
        )
        bw = basis * ew[:, None]
        return np.asarray(inv_g @ meat(bw, res, s, self.side.cluster(rows)) @ inv_g)
