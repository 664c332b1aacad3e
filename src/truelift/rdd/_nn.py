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

from truelift.rdd._kernels import _nn_search_distinct

if TYPE_CHECKING:
    from truelift.rdd._array import Side

__all__ = ["NeighbourCache", "Neighbourhoods"]


class Neighbourhoods:
    """Rows [a, b)'s neighbourhoods, stored compactly as offsets: row i's neighbours are rows
    i - left[i - a] .. i + right[i - a] (at most ``matches`` a side without ties)."""

    def __init__(self, a: int, left: np.ndarray, right: np.ndarray) -> None:
        self.a, self.left, self.right = a, left, right

    def span(self, s0: int, e0: int) -> tuple[np.ndarray, np.ndarray]:
        """Absolute (lo, hi) rows, inclusive, of rows [s0, e0)."""
        i = np.arange(s0, e0)
        k = slice(s0 - self.a, e0 - self.a)
        return i - self.left[k], i + self.right[k]


class NeighbourCache:
    """Neighbourhoods of one side's rows for windows [a, b), the widest one searched kept."""

    def __init__(self, side: Side, matches: int, chunk: int) -> None:
        self.side, self.matches, self.chunk = side, matches, chunk
        self.dtype = np.int8 if matches <= 127 else np.int64
        self._kept: Neighbourhoods | None = None
        self._end = 0

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
        found = self._search(a, b, cap)
        if found is None:
            return None
        if cap == self.matches and (kept is None or b - a > self._end - kept.a):
            self._kept, self._end = found, b
        return found

    def _local(self, lo: int, hi: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(left, right) offsets of the rows [lo, hi) searched within that range."""
        x = self.side.xv(slice(lo, hi))
        if x.size < 2 or bool(np.any(x[1:] == x[:-1])) or not np.isfinite(x[-1] - x[0]):
            return None
        first, last = _nn_search_distinct(x, cap)
        i = np.arange(x.size)
        return i - first, last - i

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
            left[s0 - a : e0 - a] = found[0][k0:k1]
            right[s0 - a : e0 - a] = found[1][k0:k1]
        return Neighbourhoods(a, left, right)

    def _fix_edges(self, nb: Neighbourhoods, b: int, cap: int) -> bool:
        """Re-search the rows within cap of the window's ends (the only ones whose
        neighbourhood in the kept range can reach outside the window)."""
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
    """Whether a row of [k0, k1) reached an inner edge of its search range (0 or size - 1)."""
    rows = np.arange(k0, k1)
    lo, hi = rows - found[0][k0:k1], rows + found[1][k0:k1]
    return (inner_lo and int(lo.min()) == 0) or (inner_hi and int(hi.max()) == size - 1)
