"""Row ranges and jobs on threads (truelift._parallel): coverage, order, nesting, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from truelift import _parallel


@pytest.mark.parametrize("n,parts", [(0, 2), (1, 2), (7, 3), (10, 2), (1_000_001, 4)])
def test_ranges_cover_every_row_once(n, parts):
    rs = _parallel.ranges(n, parts)
    assert rs[0][0] == 0 and rs[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(rs))
    sizes = [hi - lo for lo, hi in rs]
    assert max(sizes) - min(sizes) <= 1


def test_map_ranges_splits_large_inputs_and_keeps_order(monkeypatch):
    monkeypatch.setenv("TRUELIFT_THREADS", "3")
    n = _parallel.MIN_ROWS * 2
    x = np.arange(n, dtype=np.float64)
    parts = _parallel.map_ranges(lambda lo, hi: (lo, hi, float(x[lo:hi].sum())), n)
    assert [p[:2] for p in parts] == _parallel.ranges(n, 3)
    assert sum(p[2] for p in parts) == float(x.sum())  # integers: exact in any order


def test_small_inputs_run_as_one_call(monkeypatch):
    monkeypatch.setenv("TRUELIFT_THREADS", "4")
    assert _parallel.map_ranges(lambda lo, hi: (lo, hi), 10) == [(0, 10)]


def test_nested_maps_run_inline(monkeypatch):
    monkeypatch.setenv("TRUELIFT_THREADS", "2")
    n = _parallel.MIN_ROWS * 2

    def outer(lo: int, hi: int) -> list[tuple[int, int]]:
        return _parallel.map_ranges(lambda a, b: (a, b), n)  # inside a worker: one call

    parts = _parallel.map_ranges(outer, n)
    assert parts[1] == [(0, n)]


def test_run_jobs_order_and_errors(monkeypatch):
    monkeypatch.setenv("TRUELIFT_THREADS", "2")
    assert _parallel.run_jobs([lambda i=i: i * i for i in range(7)]) == [i * i for i in range(7)]
    assert _parallel.run_jobs([lambda: 1, lambda: 2], threaded=False) == [1, 2]

    def boom() -> int:
        raise ValueError("left side failed")

    with pytest.raises(ValueError, match="left side failed"):
        _parallel.run_jobs([boom, lambda: 2])
    with pytest.raises(ValueError, match="left side failed"):
        _parallel.run_jobs([lambda: 1, boom])


def test_threads_setting_is_validated(monkeypatch):
    monkeypatch.setenv("TRUELIFT_THREADS", "two")
    with pytest.raises(ValueError, match="TRUELIFT_THREADS must be a whole number"):
        _parallel.workers()
    monkeypatch.setenv("TRUELIFT_THREADS", "0")
    assert _parallel.workers() == 1
