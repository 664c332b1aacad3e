"""The kernel's sums on one side's rows in memory (numpy), rows sorted by the running variable.

Every kernel window |x - c| <= h is then a contiguous run of rows, found by two binary searches;
only the rows of a window are read, in chunks of :data:`CHUNK` rows so that the per-row factors
(kernel weights, powers of x - c, residuals) stay in cache instead of being materialised as
window-sized temporaries. The bandwidth selector works on the standardised scale (x / sd(x),
y / sd(y), as rdrobust): a :class:`Side` carries the scale and divides chunk by chunk, which
gives the same values as dividing the whole column first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from truelift.rdd._kernels import (
    gram_moments,
    kweight,
    kweight_u,
    meat,
    nn_residuals,
    poly_eval,
    power_moments,
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

__all__ = ["CHUNK", "ArrayFeeder", "Side"]

CHUNK = 1 << 15


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


def _combined(d: np.ndarray, s: tuple[float, ...], out: np.ndarray) -> np.ndarray:
    """d @ s (one column: d * s, or a copy when s is 1), into ``out``."""
    if d.shape[1] == 1:
        if s[0] != 1.0:
            return np.multiply(d[:, 0], s[0], out=out)
        np.copyto(out, d[:, 0])
        return out
    return np.asarray(np.einsum("ij,j->i", d, np.asarray(s), out=out))


class _Arena:
    """Scratch vectors of up to CHUNK values reused from chunk to chunk: fresh arrays of this
    size are mapped and faulted in anew by the allocator on every call."""

    def __init__(self) -> None:
        self._bufs: list[np.ndarray] = []
        self._next = 0

    def reset(self) -> None:
        self._next = 0

    def get(self, m: int) -> np.ndarray:
        if self._next == len(self._bufs):
            self._bufs.append(np.empty(CHUNK))
        self._next += 1
        return self._bufs[self._next - 1][:m]


def _cluster_power_sums(
    codes: np.ndarray, ng: int, prod: np.ndarray, u: np.ndarray, m_max: int
) -> np.ndarray:
    run = prod.copy()
    sums = np.empty((ng, m_max + 1))
    for j in range(m_max + 1):
        sums[:, j] = np.bincount(codes, weights=run, minlength=ng)
        if j < m_max:
            run *= u
    return sums


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


def _owned(reqs: Sequence[Req]) -> list[bool]:
    """For each request with one factor, whether no later request of the batch reads that
    factor (its array may then be consumed in place)."""
    out = []
    for i, r in enumerate(reqs):
        f = r.factors[0]
        later = {g.k if isinstance(g, Ind) else g for q in reqs[i + 1 :] for g in q.factors} | {
            g for q in reqs[i + 1 :] for g in q.factors
        }
        out.append(len(r.factors) == 1 and not isinstance(f, (Col, Ind)) and f not in later)
    return out


def _add(acc: Any, part: Any) -> Any:
    if acc is None:
        return part
    if isinstance(acc, tuple):
        return acc[0] + part[0], acc[1] + part[1]
    return acc + part


class ArrayFeeder:
    """The kernel's sums computed with numpy on one side's sorted rows in memory."""

    threads = True  # the two sides' fits may run at once (truelift.rdd._threads)

    def __init__(self, side: Side, c: float, nnmatch: int = 3) -> None:
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
        self._arena = _Arena()
        # sums of a batch by window and factors: a batch asking for lower powers (the pilot
        # fits of orders 3, 2, 1 share a window) reads their leading entries
        self._kept: dict[Any, tuple[list[Req], list[Any]]] = {}

    def scaled(self, x_sd: float, y_sd: float, keep_t: bool) -> ArrayFeeder:
        return ArrayFeeder(self.side.scaled(x_sd, y_sd, keep_t), self.c / x_sd, self.nnmatch)

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
            uniq = list(first.values())
            part = [reqs[i] for i in uniq]
            for i, res in zip(uniq, self._direct(win, a, b, part), strict=True):
                acc[i] = res
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

    def _direct(self, win: Kern, a: int, b: int, reqs: Sequence[Req]) -> list[Any]:
        """The requests' sums over the window's rows [a, b): products of kernel weights,
        polynomials and residuals on one outcome column in a compiled loop
        (:mod:`truelift.rdd._jit`), the others chunk by chunk with numpy."""
        acc: list[Any] = [None] * len(reqs)
        rest = []
        for i, r in enumerate(reqs):
            acc[i] = self._compiled(win, a, b, r)
            if acc[i] is None:
                rest.append(i)
        if rest:
            part = [reqs[i] for i in rest]
            for i, res in zip(rest, self._chunked(win, a, b, part), strict=True):
                acc[i] = res
        return acc

    def _compiled(self, win: Kern, a: int, b: int, r: Req) -> Any:
        """A request's sums from :func:`truelift.rdd._jit.kernel_sums`, or None when it is
        not one of its forms: one outcome column, no clusters, and a product of kernel
        weights (one kernel), polynomials and copies of one residual."""
        if self.ncols != 1 or r.by_cluster:
            return None
        kerns: list[float] = []
        polys: list[tuple[float, ...]] = []
        resid: list[Resid] = []
        kernel = None
        for f in r.factors:
            if isinstance(f, Kern) and kernel in (None, f.kernel):
                kernel = f.kernel
                kerns.append(f.h)
            elif isinstance(f, Poly):
                polys.append(f.coefs)
            elif isinstance(f, Resid) and (not resid or f == resid[0]):
                resid.append(f)
            else:
                return None
        if kernel is None:
            return None
        residual, nn = None, None
        if resid:
            rf = resid[0]
            residual = (rf.s[0], rf.coefs, rf.scale)
            if rf.nn:
                nn = (self._nn_source(win, a, b)[:, 0], a)
        from truelift.rdd import _jit

        side = self.side
        out, out_c = _jit.kernel_sums(
            side.x,
            side.y,
            a,
            b,
            x_scale=side.x_scale,
            y_scale=side.y_scale,
            c=self.c,
            kernel=kernel,
            negative=self.negative,
            kerns=tuple(kerns),
            polys=tuple(polys),
            residual=residual,
            n_resid=len(resid),
            nn=nn,
            m_max=r.m_max,
            m_cols=r.cols,
        )
        return out if r.cols < 0 else (out, out_c[:, None])

    def _chunked(self, win: Kern, a: int, b: int, reqs: Sequence[Req]) -> list[Any]:
        """The requests' sums over the window's rows [a, b), chunk by chunk from the rows'
        values (numpy)."""
        side, c = self.side, self.c
        codes, ng = None, 0
        if any(r.by_cluster for r in reqs):
            cl = side.cluster(slice(a, b))
            assert cl is not None  # internal invariant: cluster sums need clusters
            uniq, codes = np.unique(cl, return_inverse=True)
            ng = int(uniq.size)
        nn = None
        if any(isinstance(f, Resid) and f.nn for r in reqs for f in r.factors):
            nn = self._nn_source(win, a, b)
        acc: list[Any] = [None] * len(reqs)
        owned = _owned(reqs)
        need_d = any(r.cols >= 0 for r in reqs) or any(
            isinstance(f, Col) or (isinstance(f, Resid) and not f.nn)
            for r in reqs
            for f in r.factors
        )
        arena = self._arena
        for s0 in range(a, max(b, a + 1), CHUNK):
            e0 = min(s0 + CHUNK, b)
            part = slice(s0, e0)
            arena.reset()
            ex = side.x[part]
            if side.x_scale != 1.0:
                ex = np.divide(ex, side.x_scale, out=arena.get(e0 - s0))
            u = np.subtract(ex, c, out=arena.get(e0 - s0))
            if not need_d:
                d = u[:, None]
            elif self.ncols == 1 and side.y_scale != 1.0:
                d = np.divide(side.y[part], side.y_scale, out=arena.get(e0 - s0))[:, None]
            else:
                d = side.outcomes(part)
            nn_part = None if nn is None else nn[s0 - a : e0 - a]
            cache: dict[Any, np.ndarray] = {}

            def value(f: Factor, u=u, d=d, nn_part=nn_part, cache=cache) -> np.ndarray:  # type: ignore[no-untyped-def]
                if f not in cache:
                    cache[f] = self._factor(f, u, d, nn_part, cache)
                return cache[f]

            for i, r in enumerate(reqs):
                f0 = r.factors[0]
                if isinstance(f0, Ind) and len(r.factors) == 1 and r.m_max == 0:
                    # sum of the indicator: a count (the same value as summing ones)
                    w = value(f0.k)
                    res: Any = np.array([float(np.count_nonzero(w > 0))])
                    acc[i] = _add(acc[i], res)
                    continue
                prod = value(f0)
                if len(r.factors) > 1:
                    prod = np.multiply(prod, value(r.factors[1]), out=arena.get(e0 - s0))
                    for f in r.factors[2:]:
                        prod *= value(f)
                elif not owned[i]:
                    run = arena.get(e0 - s0)
                    np.copyto(run, prod)
                    prod = run
                if r.by_cluster:
                    assert codes is not None  # internal invariant (see above)
                    res = _cluster_power_sums(codes[s0 - a : e0 - a], ng, prod, u, r.m_max)
                elif r.cols >= 0:
                    res = gram_moments(prod, u, r.m_max, d, r.cols, own=True)
                else:
                    res = power_moments(prod, u, r.m_max, own=True)
                acc[i] = _add(acc[i], res)
        return acc

    def _nn_source(self, win: Kern, a: int, b: int) -> np.ndarray:
        """The nearest-neighbour residuals of the window's rows [a, b) (matched within it)."""
        key = (win.h, win.kernel)
        out = self._nn.get(key)
        if out is None:
            side, rows = self.side, slice(a, b)
            extra = [c for c in (side.t, side.z) if c is not None]
            out = nn_residuals(
                side.x[rows],
                side.y[rows],
                np.column_stack([c[rows] for c in extra]) if extra else None,
                self.nnmatch,
                side.x_scale,
                side.y_scale,
            )
            self._nn[key] = out
        return out

    def _factor(
        self,
        f: Factor,
        u: np.ndarray,
        d: np.ndarray,
        nn_part: np.ndarray | None,
        cache: dict,
    ) -> np.ndarray:
        arena = self._arena
        if isinstance(f, Kern):
            return kweight_u(u, f.h, f.kernel, self.negative, out=arena.get(u.size))
        if isinstance(f, Ind):
            if f.k not in cache:
                cache[f.k] = kweight_u(u, f.k.h, f.k.kernel, self.negative, out=arena.get(u.size))
            return (cache[f.k] > 0).astype(np.float64)
        if isinstance(f, Poly):
            return poly_eval(np.asarray(f.coefs), u, out=arena.get(u.size))
        if isinstance(f, Col):
            return np.ascontiguousarray(d[:, f.j], dtype=np.float64)
        if f.nn:
            assert nn_part is not None  # internal invariant: computed for the window
            return _combined(nn_part, f.s, arena.get(u.size))
        r = _combined(d, f.s, arena.get(u.size))
        r -= poly_eval(np.asarray(f.coefs), u, out=arena.get(u.size))
        if f.scale != 1.0:
            r *= f.scale
        return r

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
