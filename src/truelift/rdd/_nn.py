"""Nearest-neighbour residuals (``vce="nn"``) on the kernel windows of one side, sorted by x.

rdrobust matches each observation of a window with its J nearest neighbours *within that
window* (Calonico, Cattaneo & Titiunik 2014; Abadie & Imbens 2006). The windows of one fit
sequence are nested intervals of the same sorted rows, and a row's neighbours in a window W are
its neighbours in any larger range R whenever the search in R never left W (the search makes
the same decisions step by step). So the neighbour search runs once on the widest window seen
and later windows inside it reuse it, re-searching only the few rows at their edges.

Without tied x values each row has at most J neighbours on either side, which bounds how far the
search can reach; it then runs chunk by chunk on the chunk plus a margin. Tied values form
groups of any size; windows with ties are searched whole (:func:`nn_residuals`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from truelift.rdd._kernels import _SQRT_EPS, _nn_search_distinct

if TYPE_CHECKING:
    from truelift.rdd._array import Side

__all__ = ["NeighbourCache", "Neighbourhoods"]


class Neighbourhoods:
    """Rows [a, b)'s neighbourhoods, stored compactly as offsets: row i's neighbours are rows
    i - left[i - a] .. i + right[i - a] (at most ``matches`` a side without ties)."""

    def __init__(self, a: int, left: np.ndarray, right: np.ndarray) -> None:
        self.a, self.left, self.right = a, left, right

    def extent(self, s0: int, e0: int) -> tuple[int, int]:
        """The rows [ea, eb) that rows [s0, e0)'s neighbourhoods cover. Row i's first
        neighbour i - left[i] is at least i - max(left), so the smallest is among the first
        max(left) + 1 rows (likewise at the end)."""
        k0, k1 = s0 - self.a, e0 - self.a
        left, right = self.left[k0:k1], self.right[k0:k1]
        hl = min(k1 - k0, int(left.max()) + 1)
        hr = min(k1 - k0, int(right.max()) + 1)
        ea = int((np.arange(s0, s0 + hl) - left[:hl]).min())
        eb = int((np.arange(e0 - hr, e0) + right[k1 - k0 - hr :]).max()) + 1
        return ea, eb

    def span(self, s0: int, e0: int) -> tuple[np.ndarray, np.ndarray]:
        """Absolute (lo, hi) rows, inclusive, of rows [s0, e0)."""
        i = np.arange(s0, e0)
        k = slice(s0 - self.a, e0 - self.a)
        return i - self.left[k], i + self.right[k]


class NeighbourCache:
    """Neighbourhoods of one side's rows for windows [a, b), the widest one searched kept."""

    def __init__(
        self, side: Side, matches: int, chunk: int, twin: NeighbourCache | None = None
    ) -> None:
        self.side, self.matches, self.chunk = side, matches, chunk
        self.dtype = np.int8 if matches <= 127 else np.int64
        self._scratch, self._xbuf = Scratch(), Scratch()
        self._kept: Neighbourhoods | None = None
        self._end = 0
        # rows of the kept search whose decisions could differ on another scale (None: not
        # tracked); a cache on the raw scale reuses its standardised twin's search
        self._fragile: np.ndarray | None = None
        self._found_fragile: list[np.ndarray] | None = None
        self.twin = twin

    def bounds(self, a: int, b: int) -> Neighbourhoods | None:
        """The rows of [a, b) with neighbours searched within [a, b); None when the window
        holds tied values (then the caller searches it whole)."""
        cap = min(self.matches, b - a - 1)
        if cap < 1:
            return None
        kept = self._kept
        if kept is not None and kept.a <= a and b <= self._end and cap == self.matches:
            k = slice(a - kept.a, b - kept.a)
            nb = Neighbourhoods(a, kept.left[k].copy(), kept.right[k].copy())
            if self._fix_edges(nb, b, cap):
                return nb
        if kept is None and cap == self.matches:
            via = self._from_twin(a, b, cap)
            if via is not None:
                return via
        self._found_fragile = [] if self.side.x_scale != 1.0 else None
        found = self._search(a, b, cap)
        if found is None:
            return None
        if cap == self.matches and (kept is None or b - a > self._end - kept.a):
            self._kept, self._end = found, b
            fr = self._found_fragile
            self._fragile = None if fr is None else np.concatenate([np.zeros(0, np.int64), *fr])
        return found

    def _from_twin(self, a: int, b: int, cap: int) -> Neighbourhoods | None:
        """The window's neighbourhoods from the twin's search on the standardised scale.

        Its rows' decisions compare distances x_i/s - x_j/s; on this scale the same
        comparisons of x_i - x_j (over s) differ by at most the rounding of the divisions, which
        the twin's search added to its near-tie tolerance. So every row it did not flag takes
        the same neighbours here; the flagged rows and the window's edges are searched again.
        """
        tw = self.twin
        if tw is None or tw._kept is None or tw._fragile is None or tw.matches != self.matches:
            return None
        kept = tw._kept
        if not (kept.a <= a and b <= tw._end) or tw.side.x is not self.side.x:
            return None
        self._found_fragile = None
        fragile = tw._fragile[(tw._fragile >= a) & (tw._fragile < b)]
        if fragile.size > _MAX_FRAGILE:
            return None
        k = slice(a - kept.a, b - kept.a)
        nb = Neighbourhoods(a, kept.left[k].copy(), kept.right[k].copy())
        margin = 4 * (cap + 1)
        for i in fragile.tolist():
            ea, eb = max(a, i - margin), min(b, i + margin + 1)
            found = self._local(ea, eb, cap)
            if found is None or _touches(found, i - ea, i - ea + 1, ea > a, eb < b, eb - ea):
                return None
            nb.left[i - a] = found[0][i - ea]
            nb.right[i - a] = found[1][i - ea]
        return nb if self._fix_edges(nb, b, cap) else None

    def _local(self, lo: int, hi: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(left, right) offsets of the rows [lo, hi) searched within that range."""
        x = self.side.x[lo:hi]
        if self.side.x_scale != 1.0:
            x = np.divide(x, self.side.x_scale, out=self._xbuf.get(x.size))
            self._xbuf.reset()
        if x.size < 2 or not np.isfinite(x[-1] - x[0]):
            return None
        if cap > _MERGE_CAP or self.dtype != np.int8:
            if bool(np.any(x[1:] == x[:-1])):
                return None
            first, last = _nn_search_distinct(x, cap)
            i = np.arange(x.size)
            self._found_fragile = None  # no near-tie flags on this path
            return (i - first).astype(self.dtype), (last - i).astype(self.dtype)
        slack = 0.0
        if self._found_fragile is not None:
            # rounding of x / s: each quotient is off by at most eps/2 of its size and each
            # distance by eps/2 of its own, so a difference of two distances among these rows
            # moves by less than 8 eps max|x/s| between the scales; twice that for margin
            slack = 16.0 * _EPS * max(abs(float(x[0])), abs(float(x[-1])))
        found = nn_offsets(x, cap, self._scratch, slack)
        if found is None:
            return None
        left, right, near = found
        if self._found_fragile is not None:
            self._found_fragile.append(near + lo)
        return left, right

    def _search(self, a: int, b: int, cap: int) -> Neighbourhoods | None:
        margin = 4 * (cap + 1)
        left = np.empty(b - a, dtype=self.dtype)
        right = np.empty(b - a, dtype=self.dtype)
        for s0 in range(a, b, self.chunk):
            e0 = min(s0 + self.chunk, b)
            ea, eb = max(a, s0 - margin), min(b, e0 + margin)
            found = self._local(ea, eb, cap)
            if found is None:
                return None
            k0, k1 = s0 - ea, e0 - ea
            if _touches(found, k0, k1, ea > a, eb < b, eb - ea):
                return None  # cannot happen without ties (at most cap neighbours a side)
            fr = self._found_fragile
            if fr:  # keep the flags of this chunk's own rows
                fr[-1] = fr[-1][(fr[-1] >= s0) & (fr[-1] < e0)]
            left[s0 - a : e0 - a] = found[0][k0:k1]
            right[s0 - a : e0 - a] = found[1][k0:k1]
        return Neighbourhoods(a, left, right)

    def _fix_edges(self, nb: Neighbourhoods, b: int, cap: int) -> bool:
        """Re-search the rows within cap of the window's ends (the only ones whose
        neighbourhood in the kept range can reach outside the window)."""
        self._found_fragile = None
        a = nb.a
        span = min(b - a, 4 * (cap + 1))
        k = min(cap + 1, b - a)
        for ea, eb, rows in ((a, a + span, slice(0, k)), (b - span, b, slice(b - a - k, b - a))):
            found = self._local(ea, eb, cap)
            if found is None:
                return False
            k0, k1 = rows.start + a - ea, rows.stop + a - ea
            if _touches(found, k0, k1, ea > a, eb < b, eb - ea):
                return False
            nb.left[rows] = found[0][k0:k1]
            nb.right[rows] = found[1][k0:k1]
        return True


def _touches(found, k0, k1, inner_lo, inner_hi, size):  # type: ignore[no-untyped-def]
    """Whether a row of [k0, k1) reached an inner edge of its search range (0 or size - 1).

    Offsets are at most ``_EDGE`` rows, so only the rows that near an edge are read.
    """
    if inner_lo:
        e = min(k1, k0 + _EDGE, _EDGE)
        if e > k0 and int((np.arange(k0, e) - found[0][k0:e]).min()) == 0:
            return True
    if inner_hi:
        s = max(k0, k1 - _EDGE, size - 1 - _EDGE)
        if k1 > s and int((np.arange(s, k1) + found[1][s:k1]).max()) == size - 1:
            return True
    return False


_MERGE_CAP = 8  # the merge search below is used up to this many matches
_MAX_FRAGILE = 512  # more flagged rows in a window: search it anew instead of from the twin
_EPS = float(np.finfo(np.float64).eps)
_EDGE = 128  # offsets reach at most this far (int8 offsets)


class Scratch:
    """Reused float vectors (fresh arrays of tens of thousands of values are mapped and faulted
    in anew by the allocator each time)."""

    def __init__(self) -> None:
        self._bufs: list[np.ndarray] = []
        self._next = 0

    def reset(self) -> None:
        self._next = 0

    def get(self, m: int, dtype: type = np.float64) -> np.ndarray:
        i = self._next
        self._next += 1
        if i == len(self._bufs):
            self._bufs.append(np.empty(0))
        buf = self._bufs[i]
        if buf.size < m or buf.dtype != dtype:
            buf = self._bufs[i] = np.empty(max(m, _MIN_SCRATCH), dtype=dtype)
        return buf[:m]


_MIN_SCRATCH = (1 << 15) + 64


def nn_offsets(
    x: np.ndarray, cap: int, scratch: Scratch, slack: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(left, right) neighbour counts (int8) of each row of sorted x with the decisions of
    :func:`truelift.rdd._kernels._nn_search_distinct`; None when x holds tied values.

    That search adds, step by step, the nearer of the next left and next right candidate
    (both when their distances agree within a relative sqrt(eps)). Merging the two sorted
    distance lists instead, the a-th left candidate is taken iff it is nearer than the
    (cap + 1 - a)-th right one. The two agree whenever none of these final pairs
    (a + b = cap + 1) is a near tie: a step with L left and R right candidates taken that
    takes both (a near tie of the (L+1)-th left and (R+1)-th right, L + R <= cap - 2) never
    overshoots the merge's counts (L*, R*), because the (L+1)-th left distance exceeds the
    (R+1)-th right one by at most the tolerance, so it lies below the farther
    (cap - L)-th right one, whose pair with it is final and not near - so it is strictly
    below and L + 1 <= L* (likewise R + 1 <= R*); a step that takes one side takes the
    nearer, as the merge does; and the last step compares a final pair, which is not near,
    so it takes one: the search ends at exactly (L*, R*). (Rounding keeps both monotonicity
    facts: fl(d - e) grows with d and falls with e.) So the counts come from the final
    pairs' comparisons at once; the rows with a near tie in one of them (rare: distances
    equal to 1e-8) are searched step by step. ``slack`` widens the near-tie test by that much
    (rows searched step by step as well); the third result holds the rows so flagged.
    """
    scratch.reset()
    n = x.size
    far = 4.0 * (x[-1] - x[0]) + 1.0
    xp = scratch.get(n + 2 * cap)
    xp[cap : cap + n] = x
    xp[:cap] = x[0] - far
    xp[cap + n :] = x[-1] + far
    dls = [np.subtract(x, xp[cap - k : cap - k + n], out=scratch.get(n)) for k in range(1, cap + 1)]
    if np.count_nonzero(dls[0]) < n:  # a zero distance to the previous row: tied values
        return None
    drs = [np.subtract(xp[cap + k : cap + k + n], x, out=scratch.get(n)) for k in range(1, cap + 1)]
    left = scratch.get(n, np.int8)
    left.fill(0)
    near = scratch.get(n, np.bool_)
    near.fill(False)
    diff, tol = scratch.get(n), scratch.get(n)
    tmp = scratch.get(n, np.bool_)
    for a in range(1, cap + 1):
        dl, dr = dls[a - 1], drs[cap - a]  # the final pair (a, cap + 1 - a)
        np.subtract(dl, dr, out=diff)
        np.maximum(dl, dr, out=tol)
        tol *= _SQRT_EPS
        if slack:
            tol += slack
        np.less(diff, 0, out=tmp)
        left += tmp.view(np.int8)
        np.abs(diff, out=diff)
        np.less_equal(diff, tol, out=tmp)
        near |= tmp
    right = scratch.get(n, np.int8)
    np.subtract(np.int8(cap), left, out=right)
    f = np.flatnonzero(near)
    if f.size:
        lf, rf = _greedy([d[f] for d in dls], [d[f] for d in drs], cap)
        left[f] = lf
        right[f] = rf
    return left, right, f


def _greedy(
    dls: list[np.ndarray], drs: list[np.ndarray], cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """The step-by-step search of :func:`truelift.rdd._kernels._nn_search_distinct` on the
    candidate distances dls[k] = x_i - x_(i-k-1), drs[k] = x_(i+k+1) - x_i."""
    n = dls[0].size
    left = np.zeros(n, dtype=np.int8)
    right = np.zeros(n, dtype=np.int8)
    active = None
    for step in range(cap):
        dl = dls[0] if step == 0 else np.choose(left, dls[: step + 1])
        dr = drs[0] if step == 0 else np.choose(right, drs[: step + 1])
        tol = np.maximum(dl, dr)
        tol *= _SQRT_EPS
        diff = dl - dr
        go_r = diff >= -tol  # not "left strictly nearer"
        go_l = diff <= tol  # not "right strictly nearer"
        if active is not None:
            go_r &= active
            go_l &= active
        right += go_r.view(np.int8)
        left += go_l.view(np.int8)
        if step + 1 < cap:
            active = (left + right) < cap
            if not active.any():
                break
    return left, right


def nn_from_offsets(
    y: np.ndarray, nb: Neighbourhoods, s0: int, e0: int, ea: int, scratch: Scratch
) -> np.ndarray:
    """:func:`truelift.rdd._kernels.nn_from_bounds` for one column ``y`` (rows [ea, ...)) and
    rows [s0, e0) with neighbourhoods ``nb``: the same operations on the same values, with the
    neighbour counts and factors computed from the offsets instead of looked up, and the
    vectors taken from ``scratch`` (the result is a scratch view)."""
    scratch.reset()
    n, m = y.size, e0 - s0
    k = slice(s0 - nb.a, e0 - nb.a)
    left, right = nb.left[k], nb.right[k]
    j = np.add(left, right, out=scratch.get(m), dtype=np.float64)
    sf = np.add(j, 1.0, out=scratch.get(m))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(j, sf, out=sf)
    np.sqrt(sf, out=sf)
    base = np.arange(s0 - ea, e0 - ea, dtype=np.int64)
    idx_hi = np.add(base, right, out=scratch.get(m, np.int64))
    idx_hi += 1
    idx_lo = np.subtract(base, left, out=scratch.get(m, np.int64))
    dc = np.subtract(y, y.mean(), out=scratch.get(n))
    csum = scratch.get(n + 1)
    csum[0] = 0.0
    np.cumsum(dc, out=csum[1:])
    # the indices are in range; with mode "raise" a take into ``out`` goes through a buffer
    window = np.take(csum, idx_hi, out=scratch.get(m), mode="clip")
    window -= np.take(csum, idx_lo, out=scratch.get(m), mode="clip")
    mine = dc[s0 - ea : e0 - ea]
    window -= mine
    with np.errstate(divide="ignore", invalid="ignore"):
        window /= j
    np.subtract(mine, window, out=window)
    window *= sf
    return window
