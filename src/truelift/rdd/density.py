"""Manipulation test: is the density of the running variable continuous at the cutoff?

Cattaneo, Jansson & Ma (2020, JASA), "Simple local polynomial density estimators", and
Cattaneo, Jansson & Ma (2018, Stata Journal) ``rddensity``: the empirical distribution function
is smoothed by a local polynomial of order q = p + 1 on each side of the cutoff, the density is
its slope at the cutoff, and the test statistic is the difference of the two one-sided densities
over its jackknife standard error. Bandwidths follow ``rdbwdensity`` (pilot rule-of-thumb bias
and variance fits, then median of the "each", "diff" and "sum" MSE-optimal choices, with the
local-sample regularisation). Only the package defaults are implemented: unrestricted fit,
jackknife variance, mass-point adjustment, ``bwselect="comb"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from truelift import _frame
from truelift.errors import DataError, DesignError
from truelift.result import Estimate

__all__ = ["DensityTest", "density_test", "density_test_arrays"]

Kernel = Literal["triangular", "epanechnikov", "uniform"]

_CB = (
    25884.444444494150957,
    3430865.4551236177795,
    845007948.04262602329,
    330631733667.03808594,
    187774809656037.3125,
    145729502641999264,
    146013502974449876992,
)
_CC = (
    4.8000000000000246914,
    548.57142857155463389,
    100800.00000020420703,
    29558225.458100609481,
    12896196859.612621307,
    7890871468221.609375,
    6467911284037581,
)


@dataclass(frozen=True)
class DensityTest:
    """Result of the density discontinuity test (right density minus left density)."""

    statistic: float
    p_value: float
    f_left: float
    f_right: float
    difference: float
    std_error: float
    h_left: float
    h_right: float
    n_left: int
    n_right: int
    n_eff_left: int
    n_eff_right: int
    p: int
    kernel: str
    cutoff: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _moment(k: int, kernel: str) -> float:
    """Integral over [0, 1] of K(l) * l^k (the kernels of rddensity, unnormalised as there)."""
    if kernel == "uniform":
        return 0.5 / (k + 1)
    if kernel == "epanechnikov":
        return 0.75 * (1 / (k + 1) - 1 / (k + 3))
    return 1 / (k + 1) - 1 / (k + 2)


def _hermite(x: float, p: int) -> float:
    coefs = {
        0: [1],
        1: [1, 0],
        2: [1, 0, -1],
        3: [1, 0, -3, 0],
        4: [1, 0, -6, 0, 3],
        5: [1, 0, -10, 0, 15, 0],
        6: [1, 0, -15, 0, 45, 0, -15],
        7: [1, 0, -21, 0, 105, 0, -105, 0],
        8: [1, 0, -28, 0, 210, 0, -420, 0, 105],
        9: [1, 0, -36, 0, 378, 0, -1260, 0, 945, 0],
    }
    return float(np.polyval(coefs[p], x))


def _powers(u: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((u.size, k))
    out[:, 0] = 1.0
    for j in range(1, k):
        np.multiply(out[:, j - 1], u, out=out[:, j])
    return out


def _after(pw: np.ndarray, x: np.ndarray, mass: bool) -> np.ndarray:
    """Row i: the sum of pw over the rows after i (with mass points: after i's tie group's
    first row, as rddensity)."""
    tail = np.zeros_like(pw)
    if pw.shape[0] > 1:
        tail[:-1] = np.cumsum(pw[:0:-1], axis=0)[::-1]
    if mass and x.size:
        first = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        tail = np.repeat(tail[first], np.diff(np.r_[first, x.size]), axis=0)
    return tail


def _fv(
    y: np.ndarray,
    x: np.ndarray,
    n: int,
    hl: float,
    hr: float,
    p: int,
    s: int,
    kernel: str,
    mass: bool,
) -> np.ndarray:
    """rddensity's ``rddensity_fv``: rows l, r, diff, sum; columns hat, jackknife var, s-th deriv.

    x is sorted. rddensity fits both sides in one regression whose design is block-diagonal
    (left rows use the even columns, right rows the odd ones); the blocks are computed per side
    and assembled, which gives the same matrices without the zero blocks.
    """
    nlh = int(np.searchsorted(x, 0.0, side="left"))
    k = p + 1
    xl, xr = x[:nlh] / hl, x[nlh:] / hr
    if kernel == "uniform":
        wl, wr = np.full(nlh, 1 / (2 * hl)), np.full(x.size - nlh, 1 / (2 * hr))
    elif kernel == "triangular":
        wl, wr = (1 + xl) / hl, (1 - xr) / hr
    else:
        wl, wr = 0.75 * (1 - xl**2) / hl, 0.75 * (1 - xr**2) / hr
    pl, pr = _powers(xl, k), _powers(xr, k)
    plw, prw = pl * wl[:, None], pr * wr[:, None]
    ev, od = slice(0, 2 * k, 2), slice(1, 2 * k, 2)
    gram = np.zeros((2 * k, 2 * k))
    gram[ev, ev] = plw.T @ pl
    gram[od, od] = prw.T @ pr
    hp = np.zeros(2 * k)
    hp[ev], hp[od] = hl ** np.arange(k), hr ** np.arange(k)
    out = np.full((4, 3), np.nan)
    try:
        sinv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        return out
    hinv = np.diag(1 / hp)
    rhs = np.zeros(2 * k)
    rhs[ev], rhs[od] = plw.T @ y[:nlh], prw.T @ y[nlh:]
    bcoef = rhs @ sinv @ hinv
    out[:, 0] = [bcoef[2], bcoef[3], bcoef[3] - bcoef[2], bcoef[3] + bcoef[2]]
    out[:, 2] = [
        bcoef[2 * s],
        bcoef[2 * s + 1],
        bcoef[2 * s + 1] - bcoef[2 * s],
        bcoef[2 * s + 1] + bcoef[2 * s],
    ]
    # jackknife: row i's score is the sum of the weighted design over the rows after it; left
    # rows see all right rows in the odd columns
    a_l = _after(plw, x[:nlh], mass) / (n - 1)
    a_r = _after(prw, x[nlh:], mass) / (n - 1)
    t_r = prw.sum(axis=0) / (n - 1)
    meat = np.zeros((2 * k, 2 * k))
    meat[ev, ev] = a_l.T @ a_l
    meat[od, od] = a_r.T @ a_r + nlh * np.outer(t_r, t_r)
    meat[ev, od] = np.outer(a_l.sum(axis=0), t_r)
    meat[od, ev] = meat[ev, od].T
    v = hinv @ sinv @ meat @ sinv @ hinv
    out[:, 1] = [v[2, 2], v[3, 3], v[2, 2] + v[3, 3] - 2 * v[2, 3], v[2, 2] + v[3, 3] + 2 * v[2, 3]]
    out[:, 1] = np.where(out[:, 1] < 0, np.nan, out[:, 1])
    return out


def _kth(values: np.ndarray, k: int) -> float:
    """k-th smallest (1-based, capped at the size) of ``values``."""
    return float(np.sort(values)[min(k, values.size) - 1])


def _cdf_y(n: int, x: np.ndarray, mass: bool, offset: int = 0) -> np.ndarray:
    """Empirical CDF values (rank / (n - 1)) of sorted rows that start at rank ``offset``."""
    y = (offset + np.arange(x.size)) / (n - 1)
    if mass:
        last = np.flatnonzero(np.r_[x[1:] != x[:-1], True])
        freq = np.diff(np.r_[-1, last])
        y = np.repeat(y[last], freq)
    return y


@dataclass
class Sample:
    """What the density test needs of the running variable (centred at the cutoff).

    ``n``, ``nl`` (rows below 0), ``mass`` (repeated values), ``mu``, ``sd``, ``x_min``,
    ``x_max``; ``near[side]``: the 24 smallest |x| of the side's rows and of its distinct values;
    ``rows(w)``: the sorted rows with |x| <= w and their empirical-CDF values. In memory all rows
    are at hand; on a lazy engine only the rows within the widest window are collected.
    """

    n: int
    nl: int
    mass: bool
    mu: float
    sd: float
    x_min: float
    x_max: float
    near: dict[str, tuple[np.ndarray, np.ndarray]]
    window: Any  # Callable[[float], tuple[np.ndarray, np.ndarray]]

    def rows(self, w_left: float, w_right: float) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.window(max(w_left, w_right))
        keep = (x >= -w_left) & (x <= w_right)
        return x[keep], y[keep]


def _distinct_near(xs: np.ndarray, k: int, from_end: bool) -> np.ndarray:
    """The k distinct values of sorted xs nearest its end (or start), by binary searches."""
    out: list[float] = []
    pos = xs.size if from_end else 0
    while len(out) < k and (pos > 0 if from_end else pos < xs.size):
        v = xs[pos - 1] if from_end else xs[pos]
        out.append(float(v))
        pos = int(np.searchsorted(xs, v, side="left" if from_end else "right"))
    return np.asarray(out)


def sample_arrays(xs: np.ndarray) -> Sample:
    """The :class:`Sample` of sorted, centred values held in memory.

    Windows are found by binary search and only their rows' CDF values are computed (a tie
    group is never split by a window |x| <= w, so the mass-point adjustment is unchanged).
    """
    n = xs.size
    mass = n > 1 and bool(np.any(xs[1:] == xs[:-1]))
    nl = int(np.searchsorted(xs, 0.0, side="left"))
    k = 20 + 7 + 2 + 1
    left, right = xs[:nl], xs[nl:]
    near = {
        "left": (np.abs(left[::-1][:k]), np.abs(_distinct_near(left, k, from_end=True))),
        "right": (right[:k], _distinct_near(right, k, from_end=False)),
    }

    def window(w: float) -> tuple[np.ndarray, np.ndarray]:
        lo = int(np.searchsorted(xs, -w, side="left"))
        hi = int(np.searchsorted(xs, w, side="right"))
        return xs[lo:hi], _cdf_y(n, xs[lo:hi], mass, offset=lo)

    return Sample(
        n=n,
        nl=nl,
        mass=mass,
        mu=float(np.mean(xs)),
        sd=float(np.std(xs, ddof=1)),
        x_min=float(xs[0]),
        x_max=float(xs[-1]),
        near=near,
        window=window,
    )


def _bandwidths(sm: Sample, p: int, kernel: str) -> tuple[float, float]:
    """rdbwdensity with its defaults; returns the "comb" (median) bandwidths (left, right)."""
    n, mass = sm.n, sm.mass
    mu, sd = sm.mu, sm.sd
    fb = 1 / (_hermite(mu / sd, p + 2) ** 2 * stats.norm.pdf(mu / sd))
    fc = 1 / (_hermite(mu / sd, p) ** 2 * stats.norm.pdf(mu / sd))
    bn = ((2 * p + 1) / 4 * fb * _CB[p - 1] / n) ** (1 / (2 * p + 5)) * sd
    cn = (1 / (2 * p) * fc * _CC[p - 1] / n) ** (1 / (2 * p + 1)) * sd
    amax = max(abs(sm.x_min), abs(sm.x_max))
    bn, cn = min(bn, amax), min(cn, amax)
    (xl, ul), (xr, ur) = sm.near["left"], sm.near["right"]
    kb, kc = 20 + p + 2 + 1, 20 + p + 1
    bn = max(bn, _kth(xl, kb), _kth(xr, kb), _kth(ul, kb), _kth(ur, kb))
    cn = max(cn, _kth(xl, kc), _kth(xr, kc), _kth(ul, kc), _kth(ur, kc))
    xb, yb = sm.rows(bn, bn)
    xc, yc = sm.rows(cn, cn)
    fv_b = _fv(yb, xb, n, bn, bn, p + 2, p + 1, kernel, mass)
    fv_c = _fv(yc, xc, n, cn, cn, p, 1, kernel, mass)
    var = n * cn * fv_c[:, 1]
    smat = np.array([[_moment(i + j, kernel) for j in range(p + 1)] for i in range(p + 1)])
    cvec = np.array([_moment(i + p + 1, kernel) for i in range(p + 1)])
    bconst = float((np.linalg.inv(smat) @ cvec)[1])
    bl = fv_b[0, 2] * bconst * (-1) ** p
    br = fv_b[1, 2] * bconst
    bias2 = np.array([bl, br, br - bl, br + bl]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        hn = (1 / (2 * p) * var / bias2 / n) ** (1 / (2 * p + 1))
    hn = np.where(np.isnan(hn) | (var < 0), 0.0, hn)
    left_rng, right_rng = abs(sm.x_min), sm.x_max
    hn = np.minimum(hn, [left_rng, right_rng, max(left_rng, right_rng), max(left_rng, right_rng)])
    lo_l = max(_kth(xl, kc), _kth(ul, kc))
    lo_r = max(_kth(xr, kc), _kth(ur, kc))
    hlmin_all = max(_kth(xl, kc), _kth(xr, kc), _kth(ul, kc), _kth(ur, kc))
    hn = np.maximum(hn, [lo_l, lo_r, hlmin_all, hlmin_all])
    return float(np.median(hn[[0, 2, 3]])), float(np.median(hn[[1, 2, 3]]))


def density_test_arrays(
    x: np.ndarray,
    cutoff: float,
    *,
    p: int = 2,
    kernel: str = "triangular",
    h: float | tuple[float, float] | None = None,
    presorted: bool = False,
) -> DensityTest:
    """The Cattaneo-Jansson-Ma test on a numpy array (rddensity defaults; ``presorted``: x is
    already non-decreasing)."""
    xa = np.asarray(x, dtype=np.float64)
    xs = (xa if presorted else np.sort(xa)) - cutoff
    if xs.size == 0:
        raise DataError("The density test needs observations; found none.")
    return density_test_sample(sample_arrays(xs), cutoff, p=p, kernel=kernel, h=h)


def density_test_sample(
    sm: Sample,
    cutoff: float,
    *,
    p: int = 2,
    kernel: str = "triangular",
    h: float | tuple[float, float] | None = None,
) -> DensityTest:
    """The test from a :class:`Sample` (in memory or from a lazy engine)."""
    if kernel not in ("triangular", "epanechnikov", "uniform"):
        raise DesignError(
            f"kernel must be 'triangular', 'epanechnikov' or 'uniform'; got {kernel!r}."
        )
    if not (isinstance(p, int) and 1 <= p <= 7):
        raise DesignError(f"p must be an integer between 1 and 7; got {p!r}.")
    n, nl = sm.n, sm.nl
    if nl < 2 * (p + 2) or n - nl < 2 * (p + 2) or not (sm.x_min < 0 <= sm.x_max):
        raise DataError(
            f"The density test needs observations on both sides of the cutoff {cutoff:g}; "
            f"found {nl:,} below and {n - nl:,} at or above."
        )
    if h is None:
        hl, hr = _bandwidths(sm, p, kernel)
    else:
        hl, hr = (h, h) if not isinstance(h, tuple) else h
    xw, yw = sm.rows(hl, hr)
    fv = _fv(yw, xw, n, hl, hr, p + 1, 1, kernel, sm.mass)
    se = float(np.sqrt(fv[2, 1]))
    stat = float(fv[2, 0] / se)
    pval = float(2 * (1 - stats.norm.cdf(abs(stat))))
    nlh = int(np.sum(xw < 0))
    return DensityTest(
        statistic=stat,
        p_value=pval,
        f_left=float(fv[0, 0]),
        f_right=float(fv[1, 0]),
        difference=float(fv[2, 0]),
        std_error=se,
        h_left=float(hl),
        h_right=float(hr),
        n_left=nl,
        n_right=n - nl,
        n_eff_left=nlh,
        n_eff_right=int(xw.size) - nlh,
        p=p,
        kernel=kernel,
        cutoff=float(cutoff),
    )


def density_test(
    data: Any,
    *,
    running: str,
    cutoff: float,
    p: int = 2,
    kernel: Kernel = "triangular",
    bandwidth: float | tuple[float, float] | None = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Cattaneo-Jansson-Ma (2020) test that the running variable's density is continuous.

    A discontinuity (bunching on one side) means units sorted themselves around the cutoff, so
    units just below and just above are no longer comparable and the RD estimate is not causal.
    Reproduces ``rddensity(X, c=cutoff)`` (p = 2, bias-corrected q = 3 fit, jackknife SE,
    data-driven "comb" bandwidths, mass-point adjustment). The returned ``Estimate`` holds the
    density jump f(c+) - f(c-) with its jackknife SE and the robust bias-corrected test's
    p-value; its ``density test`` diagnostic fails (and blocks) when p < 0.01.
    """
    from truelift.rdd.diagnostics import density_diagnostic  # circular at import time

    if not 0 < conf_level < 1:
        raise DesignError(f"conf_level must lie strictly between 0 and 1; got {conf_level}.")
    cols = _frame.load(
        data, numeric={"running": running}, missing=missing, nonconstant=("running",)
    )
    x = cols["running"]
    dt = density_test_arrays(x, float(cutoff), p=p, kernel=kernel, h=bandwidth)
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    diag = density_diagnostic(x, float(cutoff), result=dt)
    return Estimate(
        estimate=dt.difference,
        std_error=dt.std_error,
        ci_low=dt.difference - z * dt.std_error,
        ci_high=dt.difference + z * dt.std_error,
        conf_level=conf_level,
        p_value=dt.p_value,
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        estimand=f"jump in the density of {running} at {float(cutoff):g} (right minus left)",
        method="local polynomial density test (Cattaneo, Jansson & Ma 2020)",
        params={"design": "rdd_density", "running": running, **dt.to_dict()},
        diagnostics=(diag,),
        inference="jackknife standard error, robust bias-corrected (q = p + 1) test statistic",
    )
