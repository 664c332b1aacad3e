"""Two threads for the in-memory DiD kernels, and BLAS on one thread while they run.

numpy releases the GIL inside its loops, so two halves of a column-wise or block-wise job run
in parallel on a second thread kept for the purpose (starting a thread per call costs
milliseconds). The matrix products of these kernels are small (blocks, k x k), and OpenBLAS
waking its own threads for each costs more than the product, badly so on a busy machine:
:func:`single_blas` keeps BLAS on the calling thread for the duration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["THREADED", "pair", "single_blas"]

THREADED = 1 << 18  # elements of work from which a second thread pays off
R = TypeVar("R")
_POOL: ThreadPoolExecutor | None = None
_BLAS: Any = None


def single_blas() -> Any:
    """Context manager: BLAS on one thread (threadpoolctl, a dependency of scikit-learn)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def pair(jobs: Sequence[Callable[[], R]], threaded: bool) -> list[R]:
    """Run the jobs, the second half of them on the worker thread when ``threaded``; results
    in order (so sums combined from them do not depend on timing)."""
    global _POOL
    if not threaded or len(jobs) < 2:
        return [job() for job in jobs]
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="truelift-did")
    half = (len(jobs) + 1) // 2
    pool = _POOL
    other = pool.submit(lambda: [job() for job in jobs[half:]])
    mine = [job() for job in jobs[:half]]
    return mine + other.result()
