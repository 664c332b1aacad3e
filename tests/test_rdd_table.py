"""The power table (truelift.rdd._table) gives a window's kernel-weighted moments as precisely as
summing the weighted rows.

Reference: the same sums over the window's rows in extended precision (np.longdouble), with
the kernel weights of truelift.rdd._kernels.kweight (rdrobust's). Tolerance: 1e-13 relative to
the sum of the terms' magnitudes (the natural scale of a float64 sum's rounding error; the
table path may differ from the direct path there, nowhere else).
"""

from __future__ import annotations

import numpy as np
import pytest

from truelift.rdd._array import CHUNK, ArrayFeeder, Side
from truelift.rdd._kernels import kweight
from truelift.rdd._sums import Ind, Kern, Req


def _reference(x, d, c, h, kernel, m_max, cols):  # type: ignore[no-untyped-def]
    w = kweight(x, c, h, kernel)
    inside = w > 0
    u = (x[inside] - c).astype(np.longdouble)
    run = w[inside].astype(np.longdouble)
    dl = d[inside].astype(np.longdouble)
    mom, mag, cross, cmag = [], [], [], []
    for m in range(m_max + 1):
        mom.append(run.sum())
        mag.append(np.abs(run).sum())
        if m <= cols:
            cross.append(run @ dl)
            cmag.append(np.abs(run) @ np.abs(dl))
        run = run * u
    return np.array(mom), np.array(mag), np.array(cross), np.array(cmag), int(inside.sum())


@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov", "uniform"])
@pytest.mark.parametrize("negative", [False, True])
@pytest.mark.parametrize("tail", [False, True])
def test_table_moments_match_extended_precision(kernel, negative, tail) -> None:
    rng = np.random.default_rng(7)
    n = 3 * CHUNK + 1234
    x = np.sort(rng.uniform(0.0, 2.0, n))
    if tail:  # a far outlier: the widest window's high powers are dominated by it
        x[-1] = 60.0
    y = 100.0 + 3 * x + rng.normal(0, 0.01, n)  # a level far above the noise
    t = (rng.uniform(size=n) < 0.5).astype(float)
    if negative:
        x, y, t = -x[::-1], y[::-1], t[::-1]
    c = 0.0
    side = Side(x=x.copy(), y=y.copy(), t=t.copy())
    d = np.column_stack([y, t])
    feeder = ArrayFeeder(side, c)
    # the pilot-like fit first (it sizes the table), then wider and narrower windows
    for h, m_max, cols in [(0.9, 7, 3), (61.0 if tail else 2.0, 9, 4), (1.7, 4, 2)]:
        k = Kern(h, kernel)
        out = feeder.sums(k, [Req((k,), m_max, cols=cols), Req((Ind(k),), 0)])
        (mom, cross), count = out.out
        ref, mag, cref, cmag, n_in = _reference(x, d, c, h, kernel, m_max, cols)
        assert float(count[0]) == n_in == out.n
        assert np.all(np.abs(mom - ref) <= 1e-13 * mag)
        assert np.all(np.abs(cross - cref) <= 1e-13 * cmag)
    assert feeder._table is not None  # the table was used (windows of several whole chunks)


@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov"])
def test_table_skips_chunks_near_the_kernel_edge(kernel) -> None:
    """A whole chunk whose last row sits just inside the support (weight ~1e-9 of the largest)
    while its u^9 dwarfs every other row: plain power sums would cancel there (relative error
    ~1e-5); the chunk is summed directly instead."""
    rng = np.random.default_rng(3)
    n = 3 * CHUNK
    x = np.sort(rng.uniform(0.0, 2.0, n))
    x[2 * CHUNK - 1] = 50.0
    x[2 * CHUNK :] = np.sort(rng.uniform(50.001, 51.0, n - 2 * CHUNK))
    y = 1.0 + x + rng.normal(0, 1, n)
    side = Side(x=x, y=y)
    feeder = ArrayFeeder(side, 0.0)
    d = y[:, None]
    for h, m_max, cols in [(1.5, 7, 3), (50.0 * (1 + 1e-9), 9, 4)]:
        k = Kern(h, kernel)
        mom, cross = feeder.sums(k, [Req((k,), m_max, cols=cols)]).out[0]
        ref, mag, cref, cmag, _ = _reference(x, d, 0.0, h, kernel, m_max, cols)
        assert np.all(np.abs(mom - ref) <= 1e-13 * mag)
        assert np.all(np.abs(cross - cref) <= 1e-13 * cmag)


def test_a_call_leaves_no_reference_cycles() -> None:
    """The feeders, their power tables and neighbour caches must be freed when the call
    returns: a cycle (a table holding its feeder) kept the sorted rows alive until the garbage
    collector ran, and the next call's sort faulted in fresh memory (0.5 s of system time per
    call at 10M rows)."""
    import gc

    import pandas as pd

    from truelift.rdd import rdd

    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, 300_000)
    df = pd.DataFrame({"x": x, "y": x + (x >= 0) + rng.normal(0, 1, x.size)})
    for vce in ("nn", "hc1"):
        rdd(df, outcome="y", running="x", cutoff=0.0, vce=vce, diagnostics=False)
        gc.collect()
        gc.disable()
        try:
            rdd(df, outcome="y", running="x", cutoff=0.0, vce=vce, diagnostics=False)
            assert gc.collect() == 0
        finally:
            gc.enable()
