"""Reuse of nearest-neighbour work across windows and scales (truelift.rdd._nn, _array).

The final fit's window (raw scale) takes its neighbourhoods from the bandwidth selector's
search on the standardised scale, re-searching the rows that the selector flagged as near a tie
once the rounding of x / sd is allowed for, and the window's edges. Reference: a fresh search on
the raw scale (the stepwise search that the rdrobust parity tests validate, via the merge search
tested in test_rdd.py). Residuals taken over from a wider window must equal residuals computed
for the window itself to rounding (1e-12 absolute on outcomes of order 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from truelift.rdd._array import ArrayFeeder, Side
from truelift.rdd._nn import NeighbourCache

_RNG = np.random.default_rng(5)
_SE = float(np.sqrt(np.finfo(float).eps))


def _motifs(k: int = 120) -> np.ndarray:
    """Rows whose third neighbour is a distance tie at the search's tolerance (relative
    sqrt(eps)) to within 2e-5 of it: x_i - 3, x_i - 1, x_i, x_i + 2, x_i + 3 (1 + ~sqrt(eps)),
    far from zero, so the rounding of x / sd decides the tie on one scale and not the other
    (taking the rounding into account is what makes the reuse exact here)."""
    gaps: list[float] = []
    for _ in range(k):
        gaps += list(_RNG.uniform(3, 4, 4))
        d = _SE * (1 + _RNG.uniform(-2e-5, 2e-5))
        gaps += [2.0, 2.0, 1.0, 2.0, 1.0 + 3.0 * (1 + d) - 3.0]
    return 1000.0 + np.cumsum(gaps)


@pytest.mark.parametrize(
    "x",
    [
        np.sort(_RNG.uniform(0, 1, 4000)),
        np.arange(3000) * 0.1,  # equally spaced: every pair a near tie
        1e6 + np.arange(3000) * 1e-3,  # far from zero: distances rounded on both scales
        np.cumsum(_RNG.choice([1.0, 1 + 1e-8, 1 + 2e-8, 1 + 3e-8, 2.0], 4000)),  # near ties
        np.cumsum(_RNG.choice([1.0, 1 + 1e-9, 1 + 1.5e-8, 1 + 1.6e-8], 4000)),  # at tolerance
        _motifs(),
        _motifs(),
    ],
)
@pytest.mark.parametrize("sd", [0.5773502691896258, 3.0, 0.37, 1e-3])
def test_raw_window_from_the_standardised_search(x, sd) -> None:
    y = np.sin(x)
    raw = Side(x=x, y=y)
    scaled = Side(x=x, y=y, x_scale=sd, y_scale=2.0)
    chunk = 512
    twin = NeighbourCache(scaled, 3, chunk)
    assert twin.bounds(100, x.size - 50) is not None  # the selector's widest window
    cache = NeighbourCache(raw, 3, chunk, twin=twin)
    for a, b in [(100, x.size - 50), (x.size // 4, 3 * x.size // 4), (120, 121 + 7)]:
        got = cache.bounds(a, b)
        ref = NeighbourCache(raw, 3, chunk).bounds(a, b)
        assert got is not None and ref is not None
        np.testing.assert_array_equal(got.left, ref.left)
        np.testing.assert_array_equal(got.right, ref.right)


def test_residuals_taken_over_equal_computed() -> None:
    rng = np.random.default_rng(9)
    n = 400_000  # windows of more than 4 chunks
    x = np.sort(rng.uniform(0, 2, n))
    y = 1 + x + rng.normal(0, 1, n)
    raw = ArrayFeeder(Side(x=x, y=y), 0.0)
    sd_x, sd_y = float(x.std()), float(y.std())
    scaled = raw.scaled(sd_x, sd_y, keep_t=False)

    def residuals(f: ArrayFeeder, a: int, b: int) -> np.ndarray:
        nb = f._neighbours.bounds(a, b)
        assert nb is not None
        return f._residuals(nb, a, b)

    wide = residuals(scaled, 0, n - 10)
    narrow = residuals(scaled, 0, 300_000)  # from the wide window's residuals
    final = residuals(raw, 0, 250_000)  # from the twin's, scaled back
    for feeder, got, (a, b) in [
        (scaled, narrow, (0, 300_000)),
        (raw, final, (0, 250_000)),
        (scaled, wide, (0, n - 10)),
    ]:
        nb = NeighbourCache(feeder.side, 3, 1 << 15).bounds(a, b)
        assert nb is not None
        ref = np.vstack(
            [feeder._from_bounds(nb, a, s, min(s + 4096, b)).copy() for s in range(a, b, 4096)]
        )
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert scaled._resid is not None and raw._resid is None  # the raw window reused the twin's


def test_merge_search_on_random_near_ties() -> None:
    """The merge search checks near ties only on its final pairs (a + b = cap + 1); the
    stepwise search (the reference) must agree on data full of near ties at every pair:
    gaps equal up to 1e-9 .. 3e-8 relative, around the tolerance sqrt(eps) = 1.49e-8."""
    from truelift.rdd._kernels import _nn_search_distinct
    from truelift.rdd._nn import Scratch, nn_offsets

    rng = np.random.default_rng(11)
    for _ in range(400):
        n = int(rng.integers(5, 60))
        gaps = rng.choice([1.0, 2.0, 3.0, 1.5], n) * (
            1 + rng.choice([0, 0, 1e-9, 5e-9, 1.4e-8, 1.5e-8, 1.6e-8, 3e-8, -1e-9, -1.4e-8], n)
        )
        if rng.uniform() < 0.3:
            gaps = rng.choice([1.0, 1 + 1e-9, 1 + 1e-8, 2.0, 2 + 2e-8, 3.0], n)
        x = np.cumsum(gaps) + rng.choice([0.0, 100.0, 1e4])
        rows = np.arange(n)
        for cap in range(1, min(8, n - 1) + 1):
            lo, hi = _nn_search_distinct(x, cap)
            found = nn_offsets(x, cap, Scratch())
            assert found is not None
            np.testing.assert_array_equal(found[0], rows - lo)
            np.testing.assert_array_equal(found[1], hi - rows)
