"""What the RD kernel asks of the data: kernel-weighted power sums on one side of the cutoff.

Every local fit of rdrobust's algorithm (Calonico, Cattaneo & Titiunik 2014) - the pilot fits of
the bandwidth selector and the final fit - needs only sums over the rows inside a kernel window
of a product of per-row factors times (x - c)^m: the Gram moments sum K u^m, the cross moments
sum K u^m d_j, and, for the HC0/HC1 and CR1 variances, sum (K r)^2 u^m or per-cluster sum K r u^j
with r a residual that is a polynomial in u plus a linear combination of the outcome columns.
:class:`Req` describes one such sum; a *feeder* evaluates a batch of them. Two feeders exist and
the kernel (``bandwidth.py``, ``_fit_moments.py``) cannot tell them apart:

* ``truelift.rdd._array.ArrayFeeder``: numpy arrays in memory, rows sorted by x;
* ``truelift.rdd._engine.EngineFeeder``: one narwhals lazy aggregation per batch, run where the
  rows live (DuckDB, polars, Spark); only the sums leave the engine.

Nearest-neighbour residuals (``vce="nn"``) need each row's sorted neighbours, and HC2/HC3 need
per-row leverages on a basis; those requests are answered from rows (``Feeder.rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from truelift.rdd._array import ArrayFeeder

__all__ = [
    "Col",
    "Feeder",
    "Ind",
    "Kern",
    "Poly",
    "Req",
    "Resid",
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
