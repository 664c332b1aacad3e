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

On large data (from ``_logit._WARM_FROM`` rows, where the fit starts
from a subsample's fit) the fit pass rides along with the Newton pass that is expected to be the
last: once the step into a Newton iterate is small (:data:`SPECULATE`), that pass also gathers
the sums, and if its own step is at most :data:`EXACT_STEP` in every coefficient the fit stops
there (``newton(exact_step=...)``), so the scores, the Hessian and the sums all belong to one
coefficient vector, within 1e-7 of the full Newton solution (quadratic convergence puts it
near 1e-8 in practice). The arm means are then moved along that untaken step to first order
(``ipw_flow(pending=...)``), so the estimate equals the full-step fit to O(step^2) (1e-15
measured), while the SE and the diagnostics are O(step) away (1e-8 measured). The first Newton
pass from the warm start takes its Hessian from every :data:`HESS_EVERY`-th block (it only
steers one step). Otherwise, and always on smaller data, a separate fit pass runs at the
converged coefficients, so the figures equal the one-at-a-time computation to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truelift._parallel import map_ranges
from truelift.errors import IdentificationError
from truelift.inference import cluster_sums
from truelift.propensity import _logit
from truelift.propensity._common import Design, check_scores
from truelift.propensity._kernel import Facts, PsiSums
from truelift.propensity._logit import (
    _BLOCK,
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
HESS_EVERY = 4  # the first pass from a warm start takes its Hessian from every 4th block


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
_OUTSIDE = 1 << 62  # see _RangeSums.visit: bits of a score plus this exceed every score's bits


@dataclass
class _RangeSums:
    """The fit pass's accumulators over one row range (one thread)."""

    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    e: np.ndarray  # the scores of all rows (the pass writes them; this reads them)
    estimand: str
    bounds: tuple[float, float] | None
    y0: float  # the outcome is centred at this pilot value in the sums (no cancellation)
    size: int
    xc: np.ndarray = field(init=False)
    x2c: np.ndarray = field(init=False)
    cs: np.ndarray = field(init=False)
    wy: np.ndarray = field(init=False)  # sum w t yc, sum w (1 - t) yc (yc = y - y0)
    # per arm (index 0 untreated, 1 treated; kept units): min and max score, largest weight,
    # sum of squared weights, units below OVERLAP_BOUND and above 1 - OVERLAP_BOUND
    e_min: np.ndarray = field(init=False)
    e_max: np.ndarray = field(init=False)
    w_max: np.ndarray = field(init=False)
    sw2: np.ndarray = field(init=False)
    n_below: np.ndarray = field(init=False)
    n_above: np.ndarray = field(init=False)
    e_lo: float = np.inf  # all units
    e_hi: float = -np.inf
    finite: bool = True
    n1: float = 0.0
    y_n: float = 0.0
    y_sum: float = 0.0  # of yc
    y_ss: float = 0.0  # of yc^2
    y_binary: bool = True

    def __post_init__(self) -> None:
        k = self.X.shape[1]
        self.xc, self.x2c = np.zeros((k, 8)), np.zeros((k, 4))
        self.cs, self.wy = np.zeros(8), np.zeros(2)
        self.e_min, self.e_max = np.full(2, np.inf), np.full(2, -np.inf)
        self.w_max, self.sw2 = np.zeros(2), np.zeros(2)
        self.n_below, self.n_above = np.zeros(2), np.zeros(2)
        m = self.size
        self.C = np.empty((m, 8), order="F")
        self.sq = np.empty((m, k), order="F")
        self.wbuf, self.sbuf, self.ybuf = np.empty(m), np.empty(m), np.empty(m)
        self.ibuf, self.jbuf = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)

    def visit(self, a: int, b: int, eb: np.ndarray) -> None:
        m = b - a
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
            kb = None
        else:
            kb = (eb >= self.bounds[0]) & (eb <= self.bounds[1])
            wb *= kb
            C[:, _C] *= kb
            np.multiply(tb, kb, out=C[:, _T])
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
        # overlap figures per arm, without copying the arm's rows: a score's bits, read as an
        # integer, order like the score (0 <= e <= 1); adding 2**62 to the other rows puts them
        # above every score, subtracting it puts them below, so one min and one max are exact
        bits = eb.view(np.int64)
        off, z = self.ibuf[:m], self.jbuf[:m]
        for arm, col, wcol in ((1, _T, C[:, _WT]), (0, _C, C[:, _WC])):
            np.subtract(1.0, C[:, col], out=sb)  # 1 for rows outside the arm (or not kept)
            off[:] = sb
            off <<= 62
            np.add(bits, off, out=z)
            lowest = int(z.min())
            np.subtract(bits, off, out=z)
            highest = int(z.max())
            if lowest < _OUTSIDE:  # the block has units of this arm
                self.e_min[arm] = min(self.e_min[arm], float(np.int64(lowest).view(np.float64)))
                self.e_max[arm] = max(self.e_max[arm], float(np.int64(highest).view(np.float64)))
            self.w_max[arm] = max(self.w_max[arm], float(wcol.max()))
            self.sw2[arm] += float(np.dot(wcol, wcol))
        for count, rows in (
            (self.n_below, np.flatnonzero(eb < OVERLAP_BOUND)),
            (self.n_above, np.flatnonzero(eb > 1 - OVERLAP_BOUND)),
        ):
            if rows.size:
                kept = rows if kb is None else rows[kb[rows]]
                treated = int(np.count_nonzero(tr[kept]))
                count += (kept.size - treated, treated)
        self.n1 += float(tb.sum())
        self.y_n += m
        self.y_sum += float(yc.sum())
        self.y_ss += float(np.dot(yc, yc))
        if self.y_binary:
            self.y_binary = bool(((yb == 0.0) | (yb == 1.0)).all())

    def arm(self, arm: int) -> dict[str, float]:
        """This range's figures of one arm, as :func:`~truelift.propensity.diagnostics.arm_summary`
        gives them."""
        n = float(self.cs[_T] if arm == 1 else self.cs[_C])
        if n == 0:
            return arm_summary(np.empty(0), np.empty(0), OVERLAP_BOUND)
        return {
            "n": n,
            "e_min": float(self.e_min[arm]),
            "e_max": float(self.e_max[arm]),
            "n_below": float(self.n_below[arm]),
            "n_above": float(self.n_above[arm]),
            "sw": float(self.cs[_WT] if arm == 1 else self.cs[_WC]),
            "sw2": float(self.sw2[arm]),
            "w_max": float(self.w_max[arm]),
        }


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

    def run(self, X: np.ndarray, coef: np.ndarray, stats: bool) -> Any:
        """One pass at ``coef`` that writes the scores and visits every block."""
        return _pass(X, self.design.t, coef, self.visitor, stats, scores=self.e)

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
                tr = tb > 0  # t is 0.0 or 1.0
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
                idx += HIST_BINS * tr
                hist += np.bincount(idx, minlength=2 * HIST_BINS)
                if cells is not None:  # the AUC's score cells, as in _logit.auc
                    z = np.subtract(eb, lo, out=sb)
                    z /= width
                    z *= nb
                    cb = cells[a:b]
                    cb[:] = z
                    np.minimum(cb, nb - 1, out=cb)
                    cb += nb * tr
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


def fused_ipw(
    design: Design, y: np.ndarray, estimand: str, bounds: tuple[float, float] | None
) -> Fused:
    """Fit the logistic score and run the fit pass (see the module docstring)."""
    X, t, names = design.X, design.t, design.X_names
    if not (X.flags.c_contiguous or X.flags.f_contiguous):  # BLAS needs one unit stride
        X = np.ascontiguousarray(X)
    n = t.size
    y0 = float(np.mean(y[:: max(1, n // 1024)]))
    warm = n >= _logit._WARM_FROM
    last: dict[str, Any] = {"coef": None, "sums": None, "partial": False}

    def pass_fn(coef: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        prev, last["coef"] = last["coef"], coef
        gather = warm and prev is not None and float(np.max(np.abs(coef - prev))) < SPECULATE
        sums = _Collector(design, y, estimand, bounds, y0) if gather else None
        last["sums"] = sums
        # the first pass from a warm start only steers one step: its Hessian from a quarter of
        # the blocks is enough (measured: the next steps are as small as with all rows)
        last["partial"] = warm and prev is None
        if sums is not None:
            return sums.run(X, coef, True)
        return _pass(X, t, coef, hess_every=HESS_EVERY if last["partial"] else 1)

    def solve(start: np.ndarray) -> Any:
        return newton(
            pass_fn,
            start,
            on_separation=lambda: _separation_error(X, t, names),
            exact_step=EXACT_STEP if warm else None,
        )

    fit = solve(_start(X, t, names))
    if last["partial"]:  # it ended on the first pass, whose Hessian came from part of the rows:
        # go on from there with full passes (the next one gathers the sums)
        fit = solve(fit.coef if fit.pending is None else fit.coef + fit.pending)
    sums, pending = last["sums"], fit.pending
    if pending is None or sums is None:
        pending = None
        sums = _Collector(design, y, estimand, bounds, y0)
        sums.run(X, fit.coef, False)
    parts = [sums.parts[k] for k in sorted(sums.parts)]
    lo, hi = min(p.e_lo for p in parts), max(p.e_hi for p in parts)
    if not all(p.finite for p in parts) or lo <= 0 or hi >= 1:
        check_scores(sums.e)  # raises with the count of offending units
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
        e_range=(lo, hi),
    )
    coef = fit.coef if pending is None else fit.coef + pending
    return Fused(feed, coef, fit.hessian, pending, parts, float(cs[_T] + cs[_C]))


def fused_facts(design: Design, fused: Fused) -> Facts:
    """The diagnostics' inputs from the fit pass and the psi pass (run the kernel first)."""
    feed, parts = fused.feed, fused.parts
    if feed.hist is None:
        raise RuntimeError("fused_facts needs the psi pass (ipw_flow) to have run.")
    cs = feed.cs
    tot = cs[:4]  # treated, untreated, weighted treated, weighted untreated (kept units)
    x2c = np.sum([p.x2c for p in parts], axis=0)
    s1b, s2b, names = design.balance_sums_from_x(feed.xc[:, :4], x2c, tot)
    arms = {arm: _merge_arms([p.arm(arm) for p in parts]) for arm in (1, 0)}
    n_y = sum(p.y_n for p in parts)
    mean_c = sum(p.y_sum for p in parts) / n_y  # about y0, a pilot of the mean: no cancellation
    var = max(sum(p.y_ss for p in parts) / n_y - mean_c * mean_c, 0.0)
    W, Wy = feed.weight_sums()
    return Facts(
        balance=balance_table(s1b, s2b, tot, names),
        overlap=overlap_facts(arms, OVERLAP_BOUND),
        hist=feed.hist,
        e_range=feed.e_range,
        auc=feed.auc,
        y_binary=all(p.y_binary for p in parts),
        y_sd=float(np.sqrt(var)),
        n_treated=round(sum(p.n1 for p in parts)),
        base=float(Wy[0] / W[0]),
    )
