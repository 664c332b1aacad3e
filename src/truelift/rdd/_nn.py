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

__all__ = ["NeighbourCache"]


class NeighbourCache:
    """Neighbourhoods (absolute lo..hi rows) of one side's rows for windows [a, b)."""

    def __init__(self, side: Side, matches: int, chunk: int) -> None:
        self.side, self.matches, self.chunk = side, matches, chunk
        self._range: tuple[int, int] | None = None
        self._lo = self._hi = np.empty(0, dtype=np.int64)

    def bounds(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(lo, hi) for the rows of [a, b) with neighbours searched within [a, b); None when
        the window holds tied values (then the caller searches it whole)."""
        cap = min(self.matches, b - a - 1)
        if cap < 1:
            return None
        rng = self._range
        if rng is not None and rng[0] <= a and b <= rng[1] and cap == self.matches:
            lo = self._lo[a - rng[0] : b - rng[0]].copy()
            hi = self._hi[a - rng[0] : b - rng[0]].copy()
            if self._fix_edges(lo, hi, a, b, cap):
                return lo, hi
        found = self._search(a, b, cap)
        if found is None:
            return None
        if cap == self.matches and (rng is None or b - a > rng[1] - rng[0]):
            self._range, self._lo, self._hi = (a, b), found[0], found[1]
        return found

    def _local(self, lo: int, hi: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
        x = self.side.xv(slice(lo, hi))
        if x.size < 2 or bool(np.any(x[1:] == x[:-1])) or not np.isfinite(x[-1] - x[0]):
            return None
        return _nn_search_distinct(x, cap)

    def _search(self, a: int, b: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
        margin = 4 * (cap + 1)
        lo_all = np.empty(b - a, dtype=np.int64)
        hi_all = np.empty(b - a, dtype=np.int64)
        for s0 in range(a, b, self.chunk):
            e0 = min(s0 + self.chunk, b)
            ea, eb = max(a, s0 - margin), min(b, e0 + margin)
            found = self._local(ea, eb, cap)
            if found is None:
                return None
            k0, k1 = s0 - ea, e0 - ea
            lo, hi = found[0][k0:k1], found[1][k0:k1]
            if (ea > a and int(lo.min()) == 0) or (eb < b and int(hi.max()) == eb - ea - 1):
                return None  # cannot happen without ties (at most cap neighbours a side)
            lo_all[s0 - a : e0 - a] = lo + ea
            hi_all[s0 - a : e0 - a] = hi + ea
        return lo_all, hi_all

    def _fix_edges(self, lo: np.ndarray, hi: np.ndarray, a: int, b: int, cap: int) -> bool:
        """Re-search the rows within cap of the window's ends (the only ones whose
        neighbourhood in the cached range can reach outside the window)."""
        span = min(b - a, 4 * (cap + 1))
        k = min(cap + 1, b - a)
        for ea, eb, rows in ((a, a + span, slice(0, k)), (b - span, b, slice(b - a - k, b - a))):
            found = self._local(ea, eb, cap)
            if found is None:
                return False
            sub = slice(rows.start + a - ea, rows.stop + a - ea)
            f_lo, f_hi = found[0][sub], found[1][sub]
            if (ea > a and int(f_lo.min()) == 0) or (eb < b and int(f_hi.max()) == eb - ea - 1):
                return False
            lo[rows] = f_lo + ea
            hi[rows] = f_hi + ea
        return True
