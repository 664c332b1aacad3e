"""From numpy columns to an :class:`RDFit`: sorting, sides, mass points, bandwidths.

The preparation steps of rdrobust's ``rdrobust()`` (Calonico, Cattaneo & Titiunik 2014;
Calonico, Cattaneo, Farrell & Titiunik 2017): observations sorted by the running variable,
split at the cutoff (x < c left, x >= c right), mass points detected (at least 20 % repeated
values on a side raise the pilot floor to 10 distinct values), bandwidths chosen on the
standardised scale, then the local fits of :mod:`truelift.rdd._fit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from truelift.errors import DataError
from truelift.rdd._array import ArrayFeeder, Side
from truelift.rdd._fit import RDFit, fit_rd
from truelift.rdd._order import sort_rows
from truelift.rdd._sums import Feeder
from truelift.rdd.bandwidth import select_bandwidths

__all__ = ["RDSpec", "rd_arrays", "rd_feeders"]


@dataclass(frozen=True)
class RDSpec:
    """Resolved options of one RD fit."""

    p: int = 1
    q: int = 2
    kernel: str = "triangular"
    bandwidth: str | float | tuple[float, float] = "mserd"
    b: float | tuple[float, float] | None = None
    vce: str = "nn"
    nnmatch: int = 3
    masspoints: str = "adjust"
    conf_level: float = 0.95


def quantile_type2(xs: np.ndarray, prob: float) -> float:
    """R's quantile type 2 of a sorted array."""
    hh = xs.size * prob
    j = int(np.floor(hh))
    return float(0.5 * (xs[j - 1] + xs[j])) if hh == j else float(xs[j])


def type2_ranks(n: int, prob: float) -> tuple[int, ...]:
    """0-based order statistics that R's type-2 quantile of n sorted values averages."""
    hh = n * prob
    j = int(np.floor(hh))
    return (j - 1, j) if hh == j else (j,)


def _std(a: np.ndarray, block: int = 1 << 16) -> float:
    """Sample standard deviation (ddof 1) without a full-size temporary."""
    n = a.size
    mean = a.mean()
    ss = 0.0
    for s0 in range(0, n, block):
        dev = a[s0 : s0 + block] - mean
        ss += float(np.einsum("i,i->", dev, dev))
    return float(np.sqrt(ss / (n - 1)))


def _pair(v: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(v, tuple):
        return float(v[0]), float(v[1])
    return float(v), float(v)


def _sides(x, y, c, t, z, cl):  # type: ignore[no-untyped-def]
    """Left (x < c) and right (x >= c) sides of rows sorted by x: slices (views)."""
    cut = int(np.searchsorted(x, c, side="left"))
    out = []
    for part in (slice(0, cut), slice(cut, x.size)):
        out.append(
            Side(
                x=x[part],
                y=y[part],
                t=None if t is None else t[part],
                z=None if z is None else z[part],
                cl=None if cl is None else cl[part],
            )
        )
    return out[0], out[1]


def drop_collinear(z: np.ndarray | None, tol: float = 1e-5) -> np.ndarray | None:
    """The covariate columns kept (collinear ones dropped by pivoted QR, as rdrobust)."""
    keep = kept_columns(z, tol)
    return None if z is None or keep is None else z[:, keep]


def kept_columns(a: np.ndarray | None, tol: float = 1e-5) -> np.ndarray | None:
    """Indices of the columns of ``a`` that pivoted QR keeps (|R_jj| > tol); the decision
    depends on a'a only, so any square root of the covariates' Gram matrix gives the same."""
    if a is None or a.shape[1] == 0:
        return None
    _, r = np.linalg.qr(a)
    if np.all(np.abs(np.diagonal(r)) > tol):
        return np.arange(a.shape[1])
    from scipy.linalg import qr

    _, r2, piv = qr(a, pivoting=True)
    return np.asarray(piv[np.abs(np.diagonal(r2)) > tol])


def rd_arrays(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    spec: RDSpec,
    *,
    t: np.ndarray | None = None,
    z: np.ndarray | None = None,
    cl: np.ndarray | None = None,
    presorted: bool = False,
) -> tuple[RDFit, dict[str, object]]:
    """Sharp or fuzzy RD of y on x at cutoff c (right minus left), with rdrobust's steps.

    The rows are sorted by x once (:func:`truelift.rdd._order.sort_rows`; skipped when
    ``presorted``: x already non-decreasing); every kernel window is then a contiguous run of
    rows.
    """
    z = drop_collinear(z)
    if not presorted:
        order, x, y = sort_rows(x, y)
        t = None if t is None else np.take(t, order)
        z = None if z is None else np.take(z, order, axis=0)
        cl = None if cl is None else np.take(cl, order)
    if not (x[0] < c < x[-1]):
        raise DataError(
            f"The cutoff {c:g} must lie strictly inside the range of the running variable "
            f"[{x[0]:g}, {x[-1]:g}]."
        )
    sl, sr = _sides(x, y, c, t, z, cl)
    fl, fr = ArrayFeeder(sl, c, spec.nnmatch), ArrayFeeder(sr, c, spec.nnmatch)

    def scales() -> tuple[float, float, float]:
        iqr = quantile_type2(x, 0.75) - quantile_type2(x, 0.25)
        return _std(x), _std(y), iqr

    return rd_feeders(fl, fr, spec, scales)


def _check_support(m_l: int, m_r: int, q: int) -> None:
    for name, m in (("left", m_l), ("right", m_r)):
        if m < q + 1:
            raise DataError(
                f"Only {m} distinct running-variable value(s) on the {name} side of the cutoff; "
                f"a local polynomial of order q = {q} needs at least {q + 1}. Use more data or a "
                "lower polynomial order."
            )


def rd_feeders(
    fl: Feeder, fr: Feeder, spec: RDSpec, scales: Callable[[], tuple[float, float, float]]
) -> tuple[RDFit, dict[str, object]]:
    """The RD steps on two feeders (left, right); ``scales()`` gives (sd x, sd y, IQR x)."""
    c = fl.c
    m_l, m_r = fl.n_distinct(), fr.n_distinct()
    _check_support(m_l, m_r, spec.q)
    info: dict[str, object] = {"mass_points": False}
    bwcheck = None
    if spec.masspoints == "adjust" and (1 - m_l / fl.n >= 0.2 or 1 - m_r / fr.n >= 0.2):
        bwcheck = 10
        info["mass_points"] = True
    if isinstance(spec.bandwidth, str):
        n = fl.n + fr.n
        if n < 20:
            hh = max(abs(c - fl.x_min), abs(fr.x_max - c))
            h, b = (hh, hh), (hh, hh)
        else:
            h, b = _select(fl, fr, spec, bwcheck, m_l + m_r, scales())
    else:
        h = _pair(spec.bandwidth)
        b = h if spec.b is None else _pair(spec.b)
    fit = fit_rd(
        fl,
        fr,
        p=spec.p,
        q=spec.q,
        h=h,
        b=b,
        kernel=spec.kernel,
        vce=spec.vce,
        nnmatch=spec.nnmatch,
        conf_level=spec.conf_level,
    )
    info["n_unique"] = (int(m_l), int(m_r))
    info["bins"] = {"left": fl.bins(fl.x_min, c), "right": fr.bins(c, fr.x_max)}
    return fit, info


def _select(fl: Feeder, fr: Feeder, spec: RDSpec, bwcheck, n_unique, scales):  # type: ignore[no-untyped-def]
    x_sd, y_sd, iqr = scales
    pilot = min(1.0, (iqr / x_sd) / 1.349)
    # perfect compliance on a side: sharp bandwidth, as rdrobust
    keep_t = fl.has_t and not fl.t_constant() and not fr.t_constant()
    bl, br = fl.scaled(x_sd, y_sd, keep_t), fr.scaled(x_sd, y_sd, keep_t)
    n_cl = fl.n_clusters() + fr.n_clusters() if fl.clustered else None
    assert isinstance(spec.bandwidth, str)  # internal invariant: only selectors reach here
    h_l, h_r, b_l, b_r = select_bandwidths(
        bl,
        br,
        p=spec.p,
        q=spec.q,
        kernel=spec.kernel,
        bwselect=spec.bandwidth,
        vce=spec.vce,
        nnmatch=spec.nnmatch,
        masspoints=spec.masspoints == "adjust",
        bwcheck=bwcheck,
        pilot_scale=pilot,
        n_unique=n_unique,
        n_clusters=n_cl,
        x_sd=x_sd,
    )
    if not all(np.isfinite(v) and v > 0 for v in (h_l, h_r, b_l, b_r)):
        raise DataError(
            "The bandwidth selector could not find a finite bandwidth (a pilot fit is not "
            "identified: too few distinct running-variable values near the cutoff). Pass a "
            "fixed bandwidth, e.g. bandwidth=0.1."
        )
    return (h_l, h_r), (b_l, b_r)
