"""Row-parallel reductions over in-memory arrays.

The in-memory kernels are passes over tall, thin arrays (millions of rows, about ten columns):
sums, cross-products and element-wise transforms. numpy releases the GIL inside its loops and
BLAS calls, so splitting the rows into one contiguous range per core and running the ranges on
threads uses every core without copying data. Meanwhile BLAS is held to one thread per call: on
products this thin its own threads gain little and, on a busy machine, spin-wait for cores.

The split depends only on the number of rows and of worker threads, so results are reproducible
on a given machine; across thread counts sums may differ in the last bits (summation order).
``TRUELIFT_THREADS`` sets the number of worker threads (default: the cores this process may use).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["MIN_ROWS", "map_ranges", "ranges", "run_jobs", "single_threaded_blas", "workers"]

T = TypeVar("T")

MIN_ROWS = 1 << 18  # below this, one thread: start-up costs more than it saves

_lock = threading.Lock()
_inside = threading.local()  # set on worker threads: a nested map runs inline (no deadlock)
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def workers() -> int:
    """Worker threads to use: ``TRUELIFT_THREADS`` if set, else the cores available to us."""
    env = os.environ.get("TRUELIFT_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"TRUELIFT_THREADS must be a whole number; got {env!r}.") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


_blas: Any = None  # threadpoolctl's controller, built once: scanning the loaded libraries costs ms


def single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread (see the module docstring)."""
    global _blas
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    with _lock:
        if _blas is None:
            _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")  # type: ignore[no-any-return]


def ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``(lo, hi)`` ranges covering ``0..n`` (sizes differ by at most 1)."""
    parts = max(1, min(parts, n)) if n else 1
    edges = [n * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(edges))


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="truelift")
            _pool_size = size
        return _pool


def map_ranges(fn: Callable[[int, int], T], n: int, work: int | None = None) -> list[T]:
    """``fn(lo, hi)`` over one range of ``0..n`` per worker thread (in order), BLAS
    single-threaded.

    ``work`` is the number of elements the whole job touches (default ``n``; e.g. units x
    periods when the ranges are units). With less than :data:`MIN_ROWS` of work, one worker, or
    when called from inside a worker, a single call ``fn(0, n)``.
    """
    if (n if work is None else work) < MIN_ROWS or getattr(_inside, "on", False):
        return [fn(0, n)]  # small products: BLAS threads do not start; nested: already limited
    k = workers()
    if k == 1:
        with single_threaded_blas():
            return [fn(0, n)]

    def run(r: tuple[int, int]) -> T:
        _inside.on = True
        try:
            return fn(*r)
        finally:
            _inside.on = False

    with single_threaded_blas():
        return list(_executor(k).map(run, ranges(n, k)))


def run_jobs(jobs: Sequence[Callable[[], T]], threaded: bool = True) -> list[T]:
    """Run independent jobs (e.g. one per column or per block), spread over the worker threads;
    the calling thread takes the first share. Results come back in job order, so sums combined
    from them do not depend on timing. Sequential when ``threaded`` is false, for one job, or
    from inside a worker."""
    k = min(workers(), len(jobs))
    if not threaded or k < 2 or getattr(_inside, "on", False):
        return [job() for job in jobs]

    def group(part: Sequence[Callable[[], T]]) -> list[T]:
        _inside.on = True
        try:
            return [job() for job in part]
        finally:
            _inside.on = False

    shares = [jobs[lo:hi] for lo, hi in ranges(len(jobs), k)]
    pool = _executor(workers())
    others = [pool.submit(group, share) for share in shares[1:]]
    try:
        out = [job() for job in shares[0]]
    except BaseException:
        for fut in others:  # let the other shares finish before the error propagates
            fut.exception()
        raise
    for fut in others:
        out.extend(fut.result())
    return out
