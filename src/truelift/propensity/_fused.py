"""In-memory IPW with the logistic score in two passes over the rows after the fit.

:func:`~truelift.propensity.ipw` with the default propensity model needs, besides the fit, the
scores, the weights, the kernel's sums (:mod:`truelift.propensity._kernel`) and the diagnostics'
inputs (balance sums, per-arm overlap figures, the score histogram, the AUC's score cells, the
outcome's facts). Done one at a time, each of these is a pass over the rows with full-size
temporaries. Here they are two passes, each over cache-sized blocks on one row range per thread:

1. the *fit pass* computes each block's scores, stores them, and accumulates in the same block
   the weight totals, the per-arm pieces of ``sum a s x~`` (it is linear in the arm means, so
   :meth:`FusedFeed.score_cross` assembles it for any ``mu``), the balance sums of every
   covariate column, the per-arm overlap figures and the outcome's facts;
2. the *psi pass* (:meth:`FusedFeed.ipw_psi`) sums the influence values once the kernel knows
   ``mu`` and the correction ``c``, and bins the stored scores for the AUC and the histogram.

On large data (from :data:`~truelift.propensity._logit._WARM_FROM` rows, where the fit starts
from a subsample's fit) the fit pass rides along with the Newton pass that is expected to be the
last: once the step into a Newton iterate is small (:data:`SPECULATE`), that pass also gathers
the sums, and if its own step is at most :data:`EXACT_STEP` in every coefficient the fit stops
there (``newton(exact_step=...)``), so the scores, the Hessian and the sums all belong to one
coefficient vector, within 1e-7 of the full Newton solution (quadratic convergence puts it
near 1e-8 in practice). Otherwise, and always on smaller data, a separate fit pass runs at the
converged coefficients, so the figures equal the one-at-a-time computation to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truelift._parallel import map_ranges
from truelift.errors import IdentificationError
from truelift.propensity._common import Design, check_scores
from truelift.propensity._kernel import Facts, PsiSums
from truelift.propensity._logit import (
    _BLOCK,
    _WARM_FROM,
    AUC_CELLS,
    AUC_EXACT_ROWS,
    _pass,
    _separation_error,
    _start,
    auc,
    auc_from_bins,
    newton,
)
from truelift.propensity.diagnostics import (
    HIST_BINS,
    OVERLAP_BOUND,
    _merge_arms,
    arm_summary,
    balance_table,
    overlap_facts,
)

__all__ = ["EXACT_STEP", "SPECULATE", "FusedFeed", "fill_weights", "fused_ipw"]

SPECULATE = 1e-3  # gather the sums in a Newton pass once the step into its iterate is this small
EXACT_STEP = 1e-7  # ... and stop there when that pass's own step is no larger


def fill_weights(
    eb: np.ndarray, tb: np.ndarray, wb: np.ndarray, sb: np.ndarray, estimand: str
) -> None:
    """Unnormalised weights ``w`` and ``s`` (d w / d beta = w s x~) of one block, written into
    ``wb`` and ``sb``.

    ``t`` is exactly 0.0 or 1.0, so each expression equals the per-arm formula bit for bit (e.g.
    |e + (t - 1)| is e for the treated and 1 - e for the untreated).
    """
    if estimand == "ATE":  # w = 1/e or 1/(1-e); s = e - 1 or e
        np.subtract(tb, 1.0, out=wb)
        wb += eb
        np.abs(wb, out=wb)
        np.divide(1.0, wb, out=wb)
        np.subtract(eb, tb, out=sb)
    elif estimand == "ATT":  # w = 1 or e/(1-e); s = 1 - t
        np.subtract(1.0, tb, out=sb)
        np.multiply(sb, eb, out=wb)
        wb += tb  # numerator: 1 or e
        den = np.subtract(1.0, eb)
        den *= sb
        den += tb  # denominator: 1 or 1 - e
        wb /= den
    else:  # ATO: w = 1-e or e; s = -e or 1-e
        np.subtract(eb, tb, out=wb)
        np.abs(wb, out=wb)
        np.subtract(1.0, tb, out=sb)
        sb -= eb


# columns of the per-block weight matrix C (rows: units of the block)
_T, _C, _WT, _WC, _WST, _WS, _WSYT, _WSY = range(8)


@dataclass
class _RangeSums:
    """The fit pass's accumulators over one row range (one thread)."""

    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    e: np.ndarray  # the scores of all rows, written block by block
    estimand: str
    bounds: tuple[float, float] | None
    y0: float  # the outcome is centred at this pilot value in the sums (no cancellation)
    size: int
    xc: np.ndarray = field(init=False)
    x2c: np.ndarray = field(init=False)
    cs: np.ndarray = field(init=False)
    arms: dict[int, list[dict[str, float]]] = field(init=False)
    e_lo: float = np.inf
    e_hi: float = -np.inf
    finite: bool = True
    n1: float = 0.0
    wy: np.ndarray = field(init=False)  # sum w t yc, sum w (1 - t) yc (yc = y - y0)
    y_n: float = 0.0
    y_mean: float = 0.0
    y_m2: float = 0.0
    y_binary: bool = True

    def __post_init__(self) -> None:
        k = self.X.shape[1]
        self.xc, self.x2c = np.zeros((k, 8)), np.zeros((k, 4))
        self.cs, self.wy = np.zeros(8), np.zeros(2)
        self.arms = {0: [], 1: []}
        m = self.size
        self.C = np.empty((m, 8), order="F")
        self.sq = np.empty((m, k), order="F")
        self.wbuf, self.sbuf, self.ybuf = np.empty(m), np.empty(m), np.empty(m)

    def visit(self, a: int, b: int, p: np.ndarray) -> None:
        m = b - a
        eb = self.e[a:b]
        np.copyto(eb, p)
        tb, yb, Xb = self.t[a:b], self.y[a:b], self.X[a:b]
        lo_e, hi_e = float(eb.min()), float(eb.max())
        self.finite &= bool(np.isfinite(lo_e) and np.isfinite(hi_e))
        self.e_lo, self.e_hi = min(self.e_lo, lo_e), max(self.e_hi, hi_e)
        wb, sb, yc, C = self.wbuf[:m], self.sbuf[:m], self.ybuf[:m], self.C[:m]
        fill_weights(eb, tb, wb, sb, self.estimand)
        tr = tb > 0
        np.subtract(1.0, tb, out=C[:, _C])
        if self.bounds is None:
            C[:, _T] = tb
            in1, in0 = tr, ~tr
        else:
            kb = (eb >= self.bounds[0]) & (eb <= self.bounds[1])
            wb *= kb
            C[:, _C] *= kb
            np.multiply(tb, kb, out=C[:, _T])
            in1, in0 = tr & kb, ~tr & kb
        np.multiply(wb, tb, out=C[:, _WT])
        np.multiply(wb, C[:, _C], out=C[:, _WC])
        ws = np.multiply(wb, sb, out=C[:, _WS])
        np.multiply(ws, tb, out=C[:, _WST])
        np.subtract(yb, self.y0, out=yc)
        np.multiply(ws, yc, out=C[:, _WSY])
        np.multiply(C[:, _WSY], tb, out=C[:, _WSYT])
        self.xc += np.dot(Xb.T, C)
        self.cs += C.sum(axis=0)
        sq = np.multiply(Xb, Xb, out=self.sq[:m])
        self.x2c += np.dot(sq.T, C[:, :4])
        self.wy += (np.dot(C[:, _WT], yc), np.dot(C[:, _WC], yc))
        self.arms[1].append(arm_summary(eb[in1], wb[in1], OVERLAP_BOUND))
        self.arms[0].append(arm_summary(eb[in0], wb[in0], OVERLAP_BOUND))
        self.n1 += float(tb.sum())
        # the outcome's mean and sum of squares about it, merged block by block (Chan et al.)
        mean_b = float(yc.sum()) / m
        yc -= mean_b
        m2_b = float(np.dot(yc, yc))
        n_new = self.y_n + m
        delta = mean_b - self.y_mean
        self.y_m2 += m2_b + delta * delta * self.y_n * m / n_new
        self.y_mean += delta * m / n_new
        self.y_n = n_new
        if self.y_binary:
            self.y_binary = bool(((yb == 0.0) | (yb == 1.0)).all())


@dataclass
class _Collector:
    """Makes one :class:`_RangeSums` per row range of a pass and merges them afterwards."""

    design: Design
    y: np.ndarray
    estimand: str
    bounds: tuple[float, float] | None
    y0: float
    e: np.ndarray = field(init=False)
    parts: dict[int, _RangeSums] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.e = np.empty(self.design.t.size)

    def visitor(self, lo: int, hi: int) -> Any:
        part = _RangeSums(
            self.design.X, self.design.t, self.y, self.e, self.estimand, self.bounds, self.y0,
            size=min(_BLOCK, max(hi - lo, 1)),
        )  # fmt: skip
        self.parts[lo] = part
        return part.visit


@dataclass
class FusedFeed:
    """The kernel's sums (:class:`~truelift.propensity._kernel.Feed`) from the fit pass; the
    psi pass also bins the scores for the AUC and the overlap histogram."""

    design: Design
    y: np.ndarray
    e: np.ndarray
    estimand: str
    bounds: tuple[float, float] | None
    y0: float
    xc: np.ndarray  # (k, 8): sum of x times each column of C
    cs: np.ndarray  # (8,): sum of each column of C
    wy: np.ndarray  # sum w t yc, sum w (1 - t) yc
    e_range: tuple[float, float]
    auc: float = float("nan")
    hist: dict[str, Any] | None = None

    @property
    def n(self) -> int:
        return int(self.e.size)

    def weight_sums(self) -> tuple[np.ndarray, np.ndarray]:
        W0, W1 = self.cs[_WC], self.cs[_WT]
        return np.array([W0, W1]), np.array([self.wy[1] + self.y0 * W0, self.wy[0] + self.y0 * W1])

    def score_cross(self, mu: np.ndarray, kappa: np.ndarray) -> np.ndarray:
        """``sum a s x~`` from the per-arm sums of ``w s x~`` and ``w s (y - y0) x~``."""
        ws1 = np.concatenate(([self.cs[_WST]], self.xc[:, _WST]))
        ws = np.concatenate(([self.cs[_WS]], self.xc[:, _WS]))
        wsy1 = np.concatenate(([self.cs[_WSYT]], self.xc[:, _WSYT]))
        wsy = np.concatenate(([self.cs[_WSY]], self.xc[:, _WSY]))
        mu1, mu0 = mu[1] - self.y0, mu[0] - self.y0
        treated = wsy1 - mu1 * ws1
        control = (wsy - wsy1) - mu0 * (ws - ws1)
        return np.asarray(kappa[1] * treated + kappa[0] * control)

    def ipw_psi(self, mu: np.ndarray, kappa: np.ndarray, c: np.ndarray | None) -> PsiSums:
        X, t, y, e = self.design.X, self.design.t, self.y, self.e
        cluster = self.design.cluster
        full = None if cluster is None else np.empty(self.n)
        binned = self.n > AUC_EXACT_ROWS
        lo, hi = self.e_range
        width, nb = max(hi - lo, 1e-300), AUC_CELLS

        cells = np.empty(self.n, dtype=np.int64) if binned else None

        def part(r0: int, r1: int) -> tuple[float, np.ndarray]:
            size = min(_BLOCK, max(r1 - r0, 1))
            wb_, sb_, psi_, lin_ = (np.empty(size) for _ in range(4))
            hist = np.zeros(2 * HIST_BINS, dtype=np.int64)
            ss = 0.0
            for a in range(r0, r1, _BLOCK):
                b = min(a + _BLOCK, r1)
                m = b - a
                eb, tb, yb = e[a:b], t[a:b], y[a:b]
                wb, sb, psi = wb_[:m], sb_[:m], psi_[:m]
                fill_weights(eb, tb, wb, sb, self.estimand)
                if self.bounds is not None:
                    wb *= (eb >= self.bounds[0]) & (eb <= self.bounds[1])
                tr = tb > 0
                np.subtract(yb, np.where(tr, mu[1], mu[0]), out=psi)  # as ArrayFeed._a
                psi *= wb
                psi *= np.where(tr, kappa[1], kappa[0])
                if c is not None:
                    lin = np.matmul(X[a:b], c[1:], out=lin_[:m])
                    lin += c[0]
                    lin *= tb - eb
                    psi += lin
                ss += float(np.dot(psi, psi))
                if full is not None:
                    full[a:b] = psi
                idx = (eb * HIST_BINS).astype(np.int64)
                np.minimum(idx, HIST_BINS - 1, out=idx)
                idx += HIST_BINS * (tb == 1)
                hist += np.bincount(idx, minlength=2 * HIST_BINS)
                if cells is not None:  # the AUC's score cells, as in _logit.auc
                    z = np.subtract(eb, lo, out=sb)
                    z /= width
                    z *= nb
                    cb = cells[a:b]
                    cb[:] = z
                    np.minimum(cb, nb - 1, out=cb)
                    cb += nb * (tb == 1)
            return ss, hist

        parts = map_ranges(part, self.n)
        hist = np.sum([p[1] for p in parts], axis=0)
        self.hist = {
            "edges": np.linspace(0.0, 1.0, HIST_BINS + 1).tolist(),
            "treated": hist[HIST_BINS:].astype(np.int64).tolist(),
            "control": hist[:HIST_BINS].astype(np.int64).tolist(),
        }
        if cells is not None:
            counts = np.bincount(cells, minlength=2 * nb)  # one count array, no merging
            self.auc = auc_from_bins(counts[nb:], counts[:nb])
        else:
            self.auc = auc(e, t)
        ss = float(sum(p[0] for p in parts))
        if full is None or cluster is None:
            return PsiSums(ss)
        from truelift.inference import cluster_sums

        codes = np.unique(cluster, return_inverse=True)[1]
        return PsiSums(ss, cluster_sums(full, codes.ravel()))


@dataclass(frozen=True)
class Fused:
    """What the fit pass gives the IPW kernel and the result."""

    feed: FusedFeed
    coef: np.ndarray
    hessian: np.ndarray
    pending: np.ndarray | None  # the Newton step the fit stopped short of (see ipw_flow)
    parts: list[_RangeSums]
    n_kept: float
    n_kept_treated: float


def fused_ipw(
    design: Design, y: np.ndarray, estimand: str, bounds: tuple[float, float] | None
) -> Fused:
    """Fit the logistic score and run the fit pass (see the module docstring)."""
    X, t, names = design.X, design.t, design.X_names
    if not (X.flags.c_contiguous or X.flags.f_contiguous):  # BLAS needs one unit stride
        X = np.ascontiguousarray(X)
    n = t.size
    y0 = float(np.mean(y[:: max(1, n // 1024)]))
    warm = n >= _WARM_FROM
    last: dict[str, Any] = {"coef": None, "sums": None}

    def pass_fn(coef: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        prev, last["coef"] = last["coef"], coef
        gather = warm and prev is not None and float(np.max(np.abs(coef - prev))) < SPECULATE
        sums = _Collector(design, y, estimand, bounds, y0) if gather else None
        last["sums"] = sums
        return _pass(X, t, coef, None if sums is None else sums.visitor)

    fit = newton(
        pass_fn,
        _start(X, t, names),
        on_separation=lambda: _separation_error(X, t, names),
        exact_step=EXACT_STEP if warm else None,
    )
    sums, pending = last["sums"], fit.pending
    if not fit.evaluated or sums is None:
        pending = None
        sums = _Collector(design, y, estimand, bounds, y0)
        _pass(X, t, fit.coef, sums.visitor, stats=False)
    parts = [sums.parts[k] for k in sorted(sums.parts)]
    if not all(p.finite for p in parts) or min(p.e_lo for p in parts) <= 0:
        check_scores(sums.e)  # raises with the count of offending units
    if max(p.e_hi for p in parts) >= 1:
        check_scores(sums.e)
    cs = np.sum([p.cs for p in parts], axis=0)
    if cs[_T] == 0 or cs[_C] == 0:
        raise IdentificationError(f"After trimming to {bounds} only one arm remains; loosen trim.")
    feed = FusedFeed(
        design=design,
        y=y,
        e=sums.e,
        estimand=estimand,
        bounds=bounds,
        y0=y0,
        xc=np.sum([p.xc for p in parts], axis=0),
        cs=cs,
        wy=np.sum([p.wy for p in parts], axis=0),
        e_range=(min(p.e_lo for p in parts), max(p.e_hi for p in parts)),
    )
    coef = fit.coef if pending is None else fit.coef + pending
    return Fused(feed, coef, fit.hessian, pending, parts, float(cs[_T] + cs[_C]), float(cs[_T]))


def fused_facts(design: Design, fused: Fused) -> Facts:
    """The diagnostics' inputs from the fit pass and the psi pass (run the kernel first)."""
    feed, parts = fused.feed, fused.parts
    if feed.hist is None:
        raise RuntimeError("fused_facts needs the psi pass (ipw_flow) to have run.")
    cs = feed.cs
    tot = cs[:4]  # treated, untreated, weighted treated, weighted untreated (kept units)
    x2c = np.sum([p.x2c for p in parts], axis=0)
    s1b, s2b, names = design.balance_sums_from_x(feed.xc[:, :4], x2c, tot)
    arms = {arm: _merge_arms([a for p in parts for a in p.arms[arm]]) for arm in (1, 0)}
    n_y = sum(p.y_n for p in parts)
    mean, m2 = 0.0, 0.0
    count = 0.0
    for p in parts:  # merge the ranges' outcome moments in row order
        if p.y_n == 0:
            continue
        total = count + p.y_n
        delta = p.y_mean - mean
        m2 += p.y_m2 + delta * delta * count * p.y_n / total
        mean += delta * p.y_n / total
        count = total
    W, Wy = feed.weight_sums()
    return Facts(
        balance=balance_table(s1b, s2b, tot, names),
        overlap=overlap_facts(arms, OVERLAP_BOUND),
        hist=feed.hist,
        e_range=feed.e_range,
        auc=feed.auc,
        y_binary=all(p.y_binary for p in parts),
        y_sd=float(np.sqrt(m2 / n_y)),
        n_treated=round(sum(p.n1 for p in parts)),
        base=float(Wy[0] / W[0]),
    )
