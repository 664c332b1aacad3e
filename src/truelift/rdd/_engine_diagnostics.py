"""The RD diagnostics of a fit on a lazy table (DuckDB, polars lazy, Spark).

Covariate continuity, placebo cutoffs, bandwidth sensitivity and the donut refit are RD fits
themselves, so they run through the engine path (:func:`truelift.rdd._engine.rd_lazy`): only
sums leave the engine. The density test (Cattaneo, Jansson & Ma 2020) smooths the empirical
distribution function, which needs each row's rank; the engine supplies the counts, moments and
the 30 values nearest the cutoff on each side, and only the rows inside the test's widest window
are collected (with their rank offset), as the result says.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np

from truelift.errors import DataError, MissingDataWarning
from truelift.rdd._core import RDSpec
from truelift.rdd._engine import EngineRun, Log, order_stats, prepare, rd_lazy
from truelift.rdd._fit import RDFit
from truelift.rdd.density import Sample, _cdf_y
from truelift.rdd.diagnostics import DENSITY_FAIL, density_diagnostic, diagnose
from truelift.result import Diagnostic

__all__ = ["lazy_diagnostics"]

_NEAR = 30  # 20 + p + 3 for p <= 7: rddensity's local-sample floors


def _density_sample(lf: Any, x: Any, c: float, log: Log) -> Sample:
    """A :class:`Sample` whose rows come from the engine window by window (centred at c)."""
    u = x - c
    row = log.table(
        lf.select(
            nw.len().alias("n"),
            (u < 0).cast(nw.Int64).sum().alias("nl"),
            x.n_unique().alias("nu"),
            u.mean().alias("mu"),
            u.std(ddof=1).alias("sd"),
            u.min().alias("lo"),
            u.max().alias("hi"),
        ).collect()
    ).rows(named=True)[0]
    near = {}
    for side, cond in (("left", u < 0), ("right", u >= 0)):
        dist = lf.filter(cond).select(__d=u.abs())
        rows = log.table(dist.sort("__d").head(_NEAR).collect())
        uniq = log.table(dist.unique().sort("__d").head(_NEAR).collect())
        near[side] = (
            np.sort(np.asarray(rows["__d"].to_numpy(), dtype=np.float64)),
            np.sort(np.asarray(uniq["__d"].to_numpy(), dtype=np.float64)),
        )
    n, mass = int(row["n"]), int(row["nu"]) != int(row["n"])
    cache: dict[str, Any] = {}

    def window(w: float) -> tuple[np.ndarray, np.ndarray]:
        if "w" not in cache or cache["w"] < w:
            inside = (u >= -w) & (u <= w)
            below = log.table(lf.select((u < -w).cast(nw.Int64).sum().alias("k")).collect())
            t = lf.filter(inside).select(__u=u).collect()
            xw = np.sort(np.asarray(t["__u"].to_numpy(), dtype=np.float64))
            offset = int(below.rows()[0][0] or 0)
            cache.update(w=w, rows=(xw, _cdf_y(n, xw, mass, offset)))
            log.rows["for the density test (its widest window)"] = int(xw.size)
        return cache["rows"]  # type: ignore[no-any-return]

    return Sample(
        n=n,
        nl=int(row["nl"] or 0),
        mass=mass,
        mu=float(row["mu"]),
        sd=float(row["sd"]),
        x_min=float(row["lo"]),
        x_max=float(row["hi"]),
        near=near,
        window=window,
    )


@dataclass
class LazySource:
    """The diagnostics' refits on the lazy table (options as in the main call)."""

    data: Any
    running: str
    outcome: str
    cutoff: float
    treatment: str | None
    covariates: list[str]
    cluster: str | None
    donut: float
    missing: str
    n_obs: int
    log: Log = field(default_factory=Log)

    def _run(self, **kw: Any) -> EngineRun:
        args: dict[str, Any] = {
            "outcome": self.outcome,
            "running": self.running,
            "cutoff": self.cutoff,
            "treatment": self.treatment,
            "covariates": self.covariates or None,
            "cluster": self.cluster,
            "donut": self.donut,
            "missing": self.missing,
        }
        args.update(kw, log=self.log)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingDataWarning)  # counted by the main fit
            return rd_lazy(self.data, **args)

    def density(self) -> Diagnostic:
        log = self.log
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingDataWarning)
            lf, cols, _ = prepare(
                self.data, self.running, None, None, None, None, self.missing, log
            )
        try:
            sm = _density_sample(lf, cols.x, self.cutoff, log)
        except (DataError, TypeError, ValueError) as exc:
            return Diagnostic("density test", "warn", None, f"p >= {DENSITY_FAIL}",
                              f"The density test could not run: {exc}", consequence="block")  # fmt: skip
        return density_diagnostic(np.empty(0), self.cutoff, sample=sm)

    def covariate(self, j: int, spec: RDSpec) -> RDFit:
        return self._run(outcome=self.covariates[j], treatment=None, covariates=None,
                         cluster=None, spec=spec).fit  # fmt: skip

    def placebo(self, side: str, spec: RDSpec) -> tuple[float, RDFit] | None:
        log = self.log
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingDataWarning)
            lf, cols, _ = prepare(self.data, self.running, self.outcome, None, None, None,
                                  self.missing, log)  # fmt: skip
        x, c = cols.x, self.cutoff
        if self.donut > 0:
            lf = lf.filter((x - c).abs() >= self.donut)
        lf = lf.filter(x < c if side == "left" else x >= c)
        row = log.table(lf.select(nw.len().alias("n"), x.min().alias("lo"),
                                  x.max().alias("hi")).collect()).rows(named=True)[0]  # fmt: skip
        n = int(row["n"])
        if n < 40:
            return None
        ranks = (n // 2 - 1, n // 2) if n % 2 == 0 else (n // 2,)
        v = order_stats(lf, x, set(ranks), float(row["lo"]), float(row["hi"]), log)
        cp = float(np.mean([v[r] for r in ranks]))
        fit = self._run(cutoff=cp, treatment=None, covariates=None, cluster=None, spec=spec,
                        keep=(side, c)).fit  # fmt: skip
        return cp, fit

    def refit(self, spec: RDSpec, radius: float) -> RDFit:
        return self._run(spec=spec, donut=max(self.donut, radius)).fit

    def n_within(self, radius: float) -> int:
        log = self.log
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingDataWarning)
            lf, cols, _ = prepare(self.data, self.running, self.outcome, self.treatment,
                                  self.covariates, self.cluster, self.missing, log)  # fmt: skip
        a = (cols.x - self.cutoff).abs()
        near = ((a >= self.donut) & (a < radius)).cast(nw.Int64).sum().alias("k")
        return int(log.table(lf.select(near).collect()).rows()[0][0] or 0)


def lazy_diagnostics(
    lf: Any,
    run: EngineRun,
    spec: RDSpec,
    sign: float,
    *,
    running: str,
    outcome: str,
    treatment: str | None,
    covariates: list[str],
    cluster: str | None,
    cutoff: float,
    donut: float,
    missing: str,
) -> tuple[tuple[Diagnostic, ...], str]:
    """All RD diagnostics of an engine-path fit, each computed through the engine, and what
    left the engine for them."""
    src = LazySource(lf, running, outcome, cutoff, treatment, covariates, cluster, donut,
                     missing, run.n_obs)  # fmt: skip
    return diagnose(src, spec, run.fit, covariates, sign), src.log.text()
