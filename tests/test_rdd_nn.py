"""Nearest-neighbour residuals (``vce="nn"``): the compiled loops of truelift.rdd._jit.

Reference: the step-by-step search as rdrobust states it (``rdrobust_res``), written out below
one row at a time: starting from the row's own group of tied values, take the nearer of the
next left and right values, both when their distances agree within a relative sqrt(eps), until
at least J neighbours; the residual is sqrt(J/(J+1)) (y_i - mean of the neighbours). The
compiled search counts neighbours from J comparisons (and searches step by step only rows with
a near tie in a final pair), so the data below are full of near ties at that tolerance.
Tolerance: 1e-12 absolute on outcomes of order 1 (the sums are accumulated in another order).
"""

from __future__ import annotations

import numpy as np
import pytest

from truelift.rdd._kernels import nn_residuals

_SE = float(np.sqrt(np.finfo(float).eps))


def _stepwise(v: np.ndarray, d: np.ndarray, matches: int) -> np.ndarray:
    n = v.size
    out = np.empty_like(d)
    cap = min(matches, n - 1)
    for i in range(n):
        lo = i
        while lo > 0 and v[lo - 1] == v[i]:
            lo -= 1
        hi = i
        while hi < n - 1 and v[hi + 1] == v[i]:
            hi += 1
        while hi - lo < cap:
            go_l = go_r = False
            if lo == 0:
                go_r = True
            elif hi == n - 1:
                go_l = True
            else:
                dl, dr = v[i] - v[lo - 1], v[hi + 1] - v[i]
                tol = max(dl, dr) * _SE
                go_r = not (dr - dl > tol)  # right unless the left one is nearer
                go_l = not (dl - dr > tol)
            if go_r:
                hi += 1
                while hi < n - 1 and v[hi + 1] == v[hi]:
                    hi += 1
            if go_l:
                lo -= 1
                while lo > 0 and v[lo - 1] == v[lo]:
                    lo -= 1
        j = hi - lo
        mean = (d[lo : hi + 1].sum(axis=0) - d[i]) / j
        out[i] = np.sqrt(j / (j + 1)) * (d[i] - mean)
    return out


_RNG = np.random.default_rng(5)


def _near_ties(n: int) -> np.ndarray:
    gaps = _RNG.choice([1.0, 2.0, 3.0, 1.5], n) * (
        1 + _RNG.choice([0, 0, 1e-9, 5e-9, 1.4e-8, 1.5e-8, 1.6e-8, 3e-8, -1e-9, -1.4e-8], n)
    )
    return np.cumsum(gaps)


CASES = {
    "uniform": np.sort(_RNG.uniform(-1, 1, 3000)),
    "equally spaced": np.arange(400) * 0.1,  # every distance pair a near tie
    "far from zero": np.arange(400) * 0.1 + 1e6,  # the distances rounded
    "near ties": _near_ties(2000),
    "at the tolerance": np.cumsum(_RNG.choice([1.0, 1 + 1e-9, 1 + 1.5e-8, 1 + 1.6e-8], 2000)),
    "tied values": np.sort(_RNG.integers(0, 40, 1500).astype(float)),
    "ties and near ties": np.sort(np.r_[_near_ties(300), _near_ties(300)[::3]]),
    "three rows": np.array([0.0, 1.0, 2.5]),
    "two rows": np.array([0.0, 1.0]),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("matches", [1, 2, 3, 4, 8])
def test_compiled_search_takes_the_stepwise_decisions(name: str, matches: int) -> None:
    x = CASES[name]
    n = x.size
    y = np.sin(x * 1.3) + _RNG.normal(0, 1, n)
    extra = np.column_stack([_RNG.integers(0, 2, n), _RNG.normal(0, 1, n)]).astype(float)
    for x_scale, y_scale in [(1.0, 1.0), (0.37, 2.0)]:
        v = x / x_scale
        ref = _stepwise(v, np.column_stack([y / y_scale, extra]), matches)
        got = nn_residuals(x, np.column_stack([y, extra]), matches, x_scale, y_scale)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
        alone = nn_residuals(x, y, matches, x_scale, y_scale)
        np.testing.assert_allclose(alone[:, 0], ref[:, 0], rtol=0, atol=1e-12)


def test_one_row_has_no_neighbour() -> None:
    r = nn_residuals(np.array([0.5]), np.array([1.0]), 3)
    assert r.shape == (1, 1) and np.isnan(r[0, 0])


@pytest.mark.parametrize("kernel", ["triangular", "epanechnikov", "uniform"])
@pytest.mark.parametrize("negative", [False, True])
def test_compiled_kernel_sums_equal_the_rows_sums(kernel: str, negative: bool) -> None:
    # truelift.rdd._jit.kernel_sums against the same sums written with numpy on the rows
    # (kweight as rdrobust, residuals as the variance step forms them), on one outcome column
    # and on three (outcome, treatment, covariate). Tolerance: 1e-12 relative (blocked,
    # reassociated sums against numpy's pairwise sums over 4,000 rows).
    from truelift.rdd._jit import kernel_sums
    from truelift.rdd._kernels import kweight

    rng = np.random.default_rng(3)
    n, c, h, x_scale, y_scale = 5000, 0.2, 0.9, 0.7, 1.9
    x = np.sort(rng.uniform(-1.0, 0.2, n) if negative else rng.uniform(0.2, 1.4, n))
    y = 1 + x + rng.normal(0, 1, n)
    d3 = np.column_stack([y, rng.integers(0, 2, n), rng.normal(0, 1, n)]).astype(float)
    lo, hi = 100, 4100
    u = x[lo:hi] / x_scale - c
    w = kweight(x[lo:hi] / x_scale, c, h, kernel)
    kw = {"x_scale": x_scale, "c": c, "kernel": kernel, "negative": negative}
    for d in (y.reshape(-1, 1), d3):
        scales = np.r_[y_scale, np.ones(d.shape[1] - 1)]
        dv = d[lo:hi] / scales
        close = {"rtol": 1e-12, "atol": 0}
        args = (x, d, lo, hi)
        got, got_c = kernel_sums(*args, d_scale=scales, kerns=(h,), m_max=7, m_cols=3, **kw)
        np.testing.assert_allclose(got, [np.sum(w * u**m) for m in range(8)], **close)
        want_c = [[np.sum(w * dv[:, j] * u**m) for j in range(d.shape[1])] for m in range(4)]
        np.testing.assert_allclose(got_c, want_c, **close)
        got, got_c = kernel_sums(  # a covariate's row of the Gram matrix: K d_j d'
            *args, d_scale=scales, kerns=(h,), cols=(d.shape[1] - 1,), m_max=0, m_cols=0, **kw
        )
        np.testing.assert_allclose(got_c[0], (w * dv[:, -1]) @ dv, **close)
        coefs, scale = (0.3, 1.1, -0.4), 1.01
        s = (0.8, -0.3, 0.5)[: d.shape[1]]
        r = (dv @ s - (coefs[0] + coefs[1] * u + coefs[2] * u**2)) * scale
        res2 = {"residual": (s, coefs, scale), "n_resid": 2, "d_scale": scales}
        got = kernel_sums(*args, kerns=(h, h), m_max=4, **res2, **kw)
        np.testing.assert_allclose(got, [np.sum((w * r) ** 2 * u**m) for m in range(5)], **close)
        # the robust variance's cross terms: K_h K_b poly r^2 and K_b^2 poly^2 r^2
        h2, poly = 0.6, (0.2, -0.5, 0.3, 0.1)
        w2 = kweight(x[lo:hi] / x_scale, c, h2, kernel)
        pv = sum(cf * u**j for j, cf in enumerate(poly))
        got = kernel_sums(*args, kerns=(h2, h), polys=(poly,), m_max=1, **res2, **kw)
        np.testing.assert_allclose(
            got, [np.sum(w2 * w * pv * r**2 * u**m) for m in range(2)], **close
        )
        got = kernel_sums(*args, kerns=(h, h), polys=(poly, poly[:2]), m_max=0, **res2, **kw)
        want = [np.sum(w * w * pv * (poly[0] + poly[1] * u) * r**2)]
        np.testing.assert_allclose(got, want, **close)
        # per cluster (CR1): sum K r u^m by cluster
        codes = rng.integers(0, 7, hi - lo)
        res1 = {**res2, "n_resid": 1}
        got = kernel_sums(*args, kerns=(h,), codes=(codes, 7), m_max=2, **res1, **kw)
        want_g = [[np.sum((w * r * u**m)[codes == g]) for m in range(3)] for g in range(7)]
        np.testing.assert_allclose(got, want_g, **close)
        # nearest-neighbour residuals of a window starting at row 50
        res = rng.normal(0, 1, (hi - 50, d.shape[1]))
        nn = {**res2, "residual": (s, (), 1.0), "nn": (res, 50)}
        got = kernel_sums(*args, kerns=(h, h), m_max=4, **nn, **kw)
        rn = res[lo - 50 : hi - 50] @ s
        np.testing.assert_allclose(got, [np.sum((w * rn) ** 2 * u**m) for m in range(5)], **close)
