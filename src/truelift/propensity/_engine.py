"""IPW and AIPW on a lazy table (DuckDB, polars lazy, Spark): sums in the engine, rows stay there.

The logistic propensity model is fitted by the same Newton loop as in memory
(:func:`truelift.propensity._logit.newton`), each step one aggregation of ``X'(t - p)``,
``X'WX`` and the log-likelihood; categorical covariates are one-hot encoded as column
expressions against their first level (alphabetical, as :func:`truelift._frame.load` does). The
per-arm outcome models of AIPW come from ``X'X`` and ``X'y`` per arm (or their own Newton loop).
The estimate and its influence-function variance come from the kernels in
:mod:`truelift.propensity._kernel`, fed here by aggregations instead of numpy; diagnostics
(overlap, every level's balance, histogram, a binned AUC) are aggregations too. What left the
engine is recorded in ``details["transferred"]``. Column names reach the engine only as column
references (Spark: positional renames), never as SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np

from truelift.errors import DataError, DesignError, IdentificationError
from truelift.propensity._engine_table import Table, _f, collect, prepare
from truelift.propensity._kernel import Facts, PsiSums, Run, aipw_flow, ipw_flow, ols_from_gram
from truelift.propensity._logit import LogitFit, intercept_start, newton, separation_message
from truelift.propensity.diagnostics import (
    HIST_BINS,
    OVERLAP_BOUND,
    balance_table,
    histogram_from_counts,
    overlap_facts,
)

__all__ = ["EngineFeed", "aipw_lazy", "collect", "engine_facts", "ipw_lazy", "score_lazy"]


def _linear(coef: np.ndarray, xs: list[Any]) -> Any:
    expr = nw.lit(float(coef[0]))
    for c, x in zip(coef[1:], xs, strict=True):
        expr = expr + float(c) * x
    return expr


def _expit(eta: Any) -> Any:
    return 1.0 / (1.0 + (eta * -1.0).exp())


def logit_pass(
    tab: Table, coef: np.ndarray, target: Any, lf: Any = None
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """One Newton step's sufficient statistics as one aggregation (see ``_logit._pass_rows``)."""
    xs = [nw.lit(1.0), *tab.xs()]
    base = (tab.lf if lf is None else lf).with_columns(__eta=_linear(coef, tab.xs()), __z=target)
    base = base.with_columns(__p=_expit(nw.col("__eta")))
    base = base.with_columns(
        __r=nw.col("__z") - nw.col("__p"), __v=nw.col("__p") * (1.0 - nw.col("__p"))
    )
    eta, r, w = nw.col("__eta"), nw.col("__r"), nw.col("__v")
    k1 = len(xs)
    aggs = [(1.0 - r.abs()).log().sum(), eta.abs().max()]
    aggs += [(r * x).sum() for x in xs]
    aggs += [(w * xs[i] * xs[j]).sum() for i in range(k1) for j in range(i, k1)]
    v = tab.one(aggs, f"Newton step: X'(t - p), X'WX ({k1}x{k1}), log-likelihood (1 row)", base)
    grad = np.array(v[2 : 2 + k1])
    hess = np.zeros((k1, k1))
    pos = 2 + k1
    for i in range(k1):
        for j in range(i, k1):
            hess[i, j] = hess[j, i] = v[pos]
            pos += 1
    return v[0], grad, hess, v[1]


def _separation(tab: Table, target: Any, lf: Any = None) -> Exception:
    aggs = []
    for x in tab.xs():
        aggs += [((x != 0) & (x != 1)).cast(nw.Float64).sum(), x.sum(), (x * target).sum()]
    v = tab.one(aggs, "separation check (1 row)", lf)
    found = []
    for j, name in enumerate(tab.x_names):
        other, s1, st = v[3 * j : 3 * j + 3]
        if other == 0 and s1 > 0 and st in (0.0, s1):
            found.append(f"{name} (all {'treated' if st == s1 else 'untreated'})")
    return separation_message(found)


def fit_lazy(tab: Table, target: Any, share: float, lf: Any = None) -> LogitFit:
    """The unpenalized logistic MLE of ``target`` on the design, one aggregation per step."""
    return newton(
        lambda c: logit_pass(tab, c, target, lf),
        intercept_start(share, tab.k),
        on_separation=lambda: _separation(tab, target, lf),
    )


def _weights(e: Any, t: Any, estimand: str) -> tuple[Any, Any]:
    """Engine version of ``weighting.weights``: (w, s) as expressions."""
    if estimand == "ATE":
        return t / e + (1 - t) / (1 - e), t * (e - 1) + (1 - t) * e
    if estimand == "ATT":
        return t + (1 - t) * e / (1 - e), 1 - t
    return t * (1 - e) + (1 - t) * e, t * (-e) + (1 - t) * (1 - e)


@dataclass
class EngineFeed:
    """The kernel's sums (see ``_kernel.Feed``) as aggregations inside the engine."""

    tab: Table
    e: Any
    w: Any  # weights already multiplied by keep
    s: Any
    keep: Any
    m1: Any = None
    m0: Any = None
    totals: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n(self) -> int:
        return self.tab.n_obs

    def weight_sums(self) -> tuple[np.ndarray, np.ndarray]:
        if self.totals is not None:  # already summed with the per-arm diagnostics
            return self.totals
        t, y, w = nw.col("__t"), nw.col("__y"), self.w
        v = self.tab.one(
            [(w * (1 - t)).sum(), (w * t).sum(), (w * (1 - t) * y).sum(), (w * t * y).sum()],
            "weighted arm totals (1 row)",
        )
        return np.array(v[:2]), np.array(v[2:])

    def _a(self, mu: np.ndarray, kappa: np.ndarray) -> Any:
        t, y = nw.col("__t"), nw.col("__y")
        centred = y - (t * float(mu[1]) + (1 - t) * float(mu[0]))
        return self.w * centred * (t * float(kappa[1]) + (1 - t) * float(kappa[0]))

    def score_cross(self, mu: np.ndarray, kappa: np.ndarray) -> np.ndarray:
        v = self._a(mu, kappa) * self.s
        aggs = [v.sum(), *[(v * x).sum() for x in self.tab.xs()]]
        return np.array(self.tab.one(aggs, f"score cross-products ({len(aggs)} sums, 1 row)"))

    def ipw_psi(self, mu: np.ndarray, kappa: np.ndarray, c: np.ndarray | None) -> PsiSums:
        psi = self._a(mu, kappa)
        if c is not None:
            psi = psi + (nw.col("__t") - self.e) * _linear(c, self.tab.xs())
        return self._sums(psi, None)

    def _sums(self, psi: Any, keep: Any) -> PsiSums:
        lf = self.tab.lf if keep is None else self.tab.lf.filter(keep)
        ss = self.tab.one([(psi * psi).sum()], "sum of squared influence values (1 row)", lf)[0]
        if not self.tab.has_cluster:
            return PsiSums(ss)
        out = self.tab.grouped("__g", [psi.sum()], "influence sums per cluster", lf)
        return PsiSums(ss, np.asarray(out["__a0"].to_numpy(), dtype=float))

    def _aipw_terms(self, estimand: str) -> tuple[Any, Any | None]:
        """Numerator and denominator terms (``None``: one per unit) of the AIPW estimate."""
        t, y, e, m1, m0 = nw.col("__t"), nw.col("__y"), self.e, self.m1, self.m0
        if estimand == "ATE":
            return m1 - m0 + t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e), None
        return t * (y - m0) - (1 - t) * e / (1 - e) * (y - m0), t

    def aipw_totals(self, estimand: str) -> tuple[float, float]:
        num, den = self._aipw_terms(estimand)
        lf = self.tab.lf.filter(self.keep)
        d = nw.len().cast(nw.Float64) if den is None else den.sum()
        v = self.tab.one([num.sum(), d], "doubly robust score totals (1 row)", lf)
        return v[0], v[1]

    def aipw_psi(self, estimand: str, est: float) -> PsiSums:
        num, den = self._aipw_terms(estimand)
        return self._sums(num - est if den is None else num - den * est, self.keep)


def engine_facts(
    tab: Table, e: Any, w: Any, keep: Any
) -> tuple[Facts, int, tuple[np.ndarray, np.ndarray]]:
    """Overlap, balance, histogram and AUC inputs by aggregation; also the number trimmed and
    the weighted arm totals (sum w, sum w y; index 0 untreated) the IPW kernel starts from."""
    t, y = nw.col("__t"), nw.col("__y")
    cols = [nw.col(c) for _, c in tab.balance]
    b = OVERLAP_BOUND
    aggs = [nw.len(), e.min(), e.max(), (e < b).cast(nw.Float64).sum()]
    aggs += [(e > 1 - b).cast(nw.Float64).sum(), w.sum(), (w * w).sum(), w.max(), (w * y).sum()]
    aggs += [x.sum() for x in cols] + [(x * x).sum() for x in cols]
    aggs += [(w * x).sum() for x in cols] + [(w * x * x).sum() for x in cols]
    arm = tab.grouped("__t", aggs, "per-arm overlap and balance sums", tab.lf.filter(keep))
    rows = {round(r[0]): [_f(v) for v in r[1:]] for r in arm.rows()}
    if set(rows) != {0, 1}:
        raise IdentificationError("After trimming only one arm remains; loosen trim.")
    m = len(cols)
    arms: dict[int, dict[str, float]] = {}
    s1, s2 = np.zeros((m, 4)), np.zeros((m, 4))
    tot = np.zeros(4)
    for a, col in ((1, 0), (0, 1)):
        v = rows[a]
        keys = ("n", "e_min", "e_max", "n_below", "n_above", "sw", "sw2", "w_max")
        arms[a] = dict(zip(keys, v[:8], strict=True))
        tot[col], tot[col + 2] = v[0], v[5]
        s1[:, col], s2[:, col] = v[9 : 9 + m], v[9 + m : 9 + 2 * m]
        s1[:, col + 2], s2[:, col + 2] = v[9 + 2 * m : 9 + 3 * m], v[9 + 3 * m : 9 + 4 * m]
    edges = [(e * HIST_BINS >= k).cast(nw.Float64) for k in range(HIST_BINS)]
    v = tab.one(
        [*[(t * g).sum() for g in edges], *[g.sum() for g in edges], e.min(), e.max()],
        f"score histogram ({HIST_BINS} bins per arm) and range (1 row)",
    )
    hist = histogram_from_counts(np.array(v[:HIST_BINS]), np.array(v[HIST_BINS : 2 * HIST_BINS]))
    lo, hi = v[-2], v[-1]
    facts = Facts(
        balance=balance_table(s1, s2, tot, [name for name, _ in tab.balance]),
        overlap=overlap_facts(arms, b),
        hist=hist,
        e_range=(lo, hi),
        auc=_auc(tab, e, lo, hi),
        y_binary=tab.y_binary,
        y_sd=tab.y_sd,
        n_treated=tab.n_treated,
        base=rows[0][8] / rows[0][5],
    )
    totals = (np.array([arms[0]["sw"], arms[1]["sw"]]), np.array([rows[0][8], rows[1][8]]))
    return facts, tab.n_obs - round(arms[0]["n"] + arms[1]["n"]), totals


def _auc(tab: Table, e: Any, lo: float, hi: float) -> float:
    """The AUC as :func:`~truelift.propensity._logit.auc` computes it in memory: exact (counts
    per distinct score, ties count 1/2) up to 200,000 rows, else counts per cell of 2**18
    equal-width cells over the score range."""
    from truelift.propensity._logit import AUC_CELLS, AUC_EXACT_ROWS, auc_from_bins

    if tab.n_obs <= AUC_EXACT_ROWS:
        out = tab.grouped("__e", [nw.col("__t").sum(), nw.len()], "AUC: counts per score")
        order = np.argsort(np.asarray(out["__e"].to_numpy(), dtype=float), kind="stable")
        c1 = np.asarray(out["__a0"].to_numpy(), dtype=float)[order]
        n = np.asarray(out["__a1"].to_numpy(), dtype=float)[order]
        return auc_from_bins(c1, n - c1)
    cell = ((e - lo) / max(hi - lo, 1e-300) * AUC_CELLS).floor().clip(0, AUC_CELLS - 1)
    lf = tab.lf.with_columns(__cell=cell.cast(nw.Int64))
    out = tab.grouped("__cell", [nw.col("__t").sum(), nw.len()], "AUC: counts per score cell", lf)
    idx = np.asarray(out["__cell"].to_numpy(), dtype=np.int64)
    c1 = np.zeros(AUC_CELLS)
    n = np.zeros(AUC_CELLS)
    c1[idx] = np.asarray(out["__a0"].to_numpy(), dtype=float)
    n[idx] = np.asarray(out["__a1"].to_numpy(), dtype=float)
    return auc_from_bins(c1, n - c1)


def _keep(e: Any, bounds: tuple[float, float] | None) -> Any:
    if bounds is None:
        return nw.lit(True)
    return (e >= bounds[0]) & (e <= bounds[1])


def _score(tab: Table) -> tuple[LogitFit, Any]:
    """Fit the propensity model; add the score as column ``__e`` of the table."""
    fit = fit_lazy(tab, nw.col("__t"), tab.n_treated / tab.n_obs)
    tab.lf = tab.lf.with_columns(__e=_expit(_linear(fit.coef, tab.xs())))
    return fit, nw.col("__e")


def _weighted(tab: Table, e: Any, estimand: str, bounds: tuple[float, float] | None) -> Any:
    """Add keep (``__k``), weights times keep (``__w``) and ``__s`` columns; return keep."""
    w, s = _weights(e, nw.col("__t"), estimand)
    tab.lf = tab.lf.with_columns(__k=_keep(e, bounds), __s=s)
    tab.lf = tab.lf.with_columns(__w=nw.when(nw.col("__k")).then(w).otherwise(0.0))
    return nw.col("__k")


def _transferred(tab: Table) -> str:
    steps = sum(1 for s in tab.log if s.startswith("Newton step"))
    rest = [s for s in tab.log if not s.startswith("Newton step")]
    head = f"sums only, {len(tab.log)} aggregations: {steps} Newton steps of X'(t - p) and X'WX"
    return head + "; " + "; ".join(dict.fromkeys(rest))


def _run(tab: Table, est: float, var: float, facts: Facts, n_trimmed: int, **kw: Any) -> Run:
    return Run(
        est=est,
        var=var,
        facts=facts,
        n_obs=tab.n_obs,
        n_dropped=tab.n_dropped,
        covariates=tab.covariates,
        model="logistic (unpenalized MLE)",
        n_trimmed=n_trimmed,
        engine=tab.engine,
        transferred=_transferred(tab),
        **kw,
    )


def ipw_lazy(
    lf: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Any,
    estimand: str,
    trim: Any,
    cluster: str | None,
    missing: str,
) -> Run:
    """IPW on a lazy table: the in-memory kernels fed by engine aggregations."""
    from truelift.propensity._common import covariate_list
    from truelift.propensity.weighting import trim_bounds

    covs = _roles_ok(treatment, outcome, covariate_list(covariates))
    bounds = trim_bounds(trim)
    tab = prepare(lf, treatment=treatment, outcome=outcome, covariates=covs, cluster=cluster,
                  missing=missing)  # fmt: skip
    fit, e = _score(tab)
    keep = _weighted(tab, e, estimand, bounds)
    w, s = nw.col("__w"), nw.col("__s")
    facts, n_trimmed, totals = engine_facts(tab, e, w, keep)
    feed = EngineFeed(tab, e, w, s, keep, totals=totals)
    est, var, mu1, mu0, _ = ipw_flow(feed, fit.hessian)
    coef = dict(zip(("intercept", *tab.x_names), map(float, fit.coef), strict=True))
    extra = {"mean_treated": mu1, "mean_control": mu0}
    return _run(tab, est, var, facts, n_trimmed, coef=coef, bounds=bounds, extra=extra)


def _roles_ok(treatment: str, outcome: str | None, covs: list[str]) -> list[str]:
    for role, col in (("treatment", treatment), ("outcome", outcome)):
        if col is not None and col in covs:
            raise DesignError(f"The {role} column {col!r} cannot also be a covariate.")
    return covs


def _outcome_models(tab: Table, model: str) -> tuple[Any, Any]:
    """Per-arm outcome predictions m1, m0 as expressions (OLS by X'X, X'y; or logistic)."""
    t, y = nw.col("__t"), nw.col("__y")
    out = []
    for arm in (1.0, 0.0):
        lf = tab.lf.filter(t == arm)
        n_arm = tab.n_treated if arm == 1.0 else tab.n_obs - tab.n_treated
        if n_arm <= tab.k + 1:
            raise DataError(
                f"An arm has only {n_arm} units to fit an outcome model with {tab.k} "
                "covariates; use fewer covariates or ipw()."
            )
        if model == "linear":
            xs = [nw.lit(1.0), *tab.xs()]
            k1 = len(xs)
            aggs = [
                (xs[i] * xs[j]).sum() if i or j else nw.len().cast(nw.Float64)
                for i in range(k1)
                for j in range(i, k1)
            ]
            v = tab.one(aggs + [(x * y).sum() for x in xs], f"X'X, X'y of arm {arm:g} (1 row)", lf)
            gram = np.zeros((k1, k1))
            pos = 0
            for i in range(k1):
                for j in range(i, k1):
                    gram[i, j] = gram[j, i] = v[pos]
                    pos += 1
            out.append(_linear(ols_from_gram(gram, np.array(v[pos:])), tab.xs()))
            continue
        if not tab.y_binary:
            raise DesignError("outcome_model='logistic' needs a binary (0/1) outcome.")
        ys = tab.one([y.sum()], f"outcome total of arm {arm:g} (1 row)", lf)[0]
        if ys in (0.0, float(n_arm)):
            out.append(nw.lit(ys / n_arm))
            continue
        out.append(_expit(_linear(fit_lazy(tab, y, ys / n_arm, lf).coef, tab.xs())))
    return out[0], out[1]


def aipw_lazy(
    lf: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Any,
    estimand: str,
    outcome_model: str,
    trim: Any,
    cluster: str | None,
    missing: str,
) -> Run:
    """AIPW with the default nuisance models on a lazy table (sums in the engine)."""
    from truelift.propensity._common import covariate_list
    from truelift.propensity.weighting import trim_bounds

    covs = _roles_ok(treatment, outcome, covariate_list(covariates))
    bounds = trim_bounds(trim)
    tab = prepare(lf, treatment=treatment, outcome=outcome, covariates=covs, cluster=cluster,
                  missing=missing)  # fmt: skip
    _, e = _score(tab)
    m1, m0 = _outcome_models(tab, outcome_model)
    tab.lf = tab.lf.with_columns(__m1=m1, __m0=m0)
    m1, m0 = nw.col("__m1"), nw.col("__m0")
    keep = _weighted(tab, e, estimand, bounds)
    w = nw.col("__w")
    facts, n_trimmed, _ = engine_facts(tab, e, w, keep)
    est, var = aipw_flow(EngineFeed(tab, e, w, w, keep, m1, m0), estimand)
    return _run(tab, est, var, facts, n_trimmed, coef=None, bounds=bounds)


def score_lazy(lf: Any, *, treatment: str, covariates: Any, missing: str) -> tuple[Run, LogitFit]:
    """The propensity model alone on a lazy table, with its ATE-weight overlap facts."""
    from truelift.propensity._common import covariate_list

    covs = _roles_ok(treatment, None, covariate_list(covariates))
    tab = prepare(lf, treatment=treatment, outcome=None, covariates=covs, cluster=None,
                  missing=missing)  # fmt: skip
    tab.lf = tab.lf.with_columns(__y=nw.lit(0.0))
    fit, e = _score(tab)
    keep = _weighted(tab, e, "ATE", None)
    facts, _, _ = engine_facts(tab, e, nw.col("__w"), keep)
    coef = dict(zip(("intercept", *tab.x_names), map(float, fit.coef), strict=True))
    return _run(tab, 0.0, 0.0, facts, 0, coef=coef, bounds=None), fit
