"""The two sides of the cutoff computed at once, on two threads.

Each side's fits read only that side's rows and caches, and numpy's loops and the compiled
ones (:mod:`truelift.rdd._jit`) release the GIL, so on large in-memory data the left side runs
on a worker thread while the right side runs on the caller's. Results are the same as running
them one after the other (each side's arithmetic is unchanged). Feeders that query an engine
(``threads`` False) stay sequential.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from truelift._parallel import run_jobs

__all__ = ["MIN_ROWS", "both", "pair"]

T = TypeVar("T")
U = TypeVar("U")

MIN_ROWS = 200_000


def pair(n_rows: int, left: Callable[[], T], right: Callable[[], U]) -> tuple[T, U]:
    """(left(), right()), at once (:func:`truelift._parallel.run_jobs`) when ``n_rows`` is
    large."""
    jobs: list[Callable[[], Any]] = [left, right]
    a, b = run_jobs(jobs, threaded=n_rows >= MIN_ROWS)
    return cast(T, a), cast(U, b)


def both(fl: Any, fr: Any, left: Callable[[], T], right: Callable[[], U]) -> tuple[T, U]:
    """:func:`pair` for the two feeders of a fit (threads only for in-memory feeders)."""
    if not (getattr(fl, "threads", False) and getattr(fr, "threads", False)):
        return left(), right()
    return pair(fl.n + fr.n, left, right)
