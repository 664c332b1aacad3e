"""Power, sample size and minimum detectable effect of a two-arm (or A/B/n) experiment.

Normal-approximation power of the two-sided (or one-sided) Wald test of a difference in means with
unequal allocation, as in every experimentation platform (Kohavi, Tang & Xu 2020, ch. 17). Two
design levers shrink the variance:

* CUPED / regression adjustment with a pre-period covariate correlated ``rho`` with the outcome
  multiplies the variance by ``1 - rho**2`` (Deng, Xu, Kohavi & Walker 2013);
* cluster randomization (whole workspaces) multiplies it by the design effect
  ``1 + (m - 1) * icc`` for clusters of ``m`` users (Donner & Klar 2000).

Give exactly two of ``effect``, ``n`` and ``power``; :func:`power` solves for the third.
:func:`power_inputs` measures ``sd``, ``rho`` and ``icc`` on past data from sufficient statistics
(in memory, or inside DuckDB / polars lazy / Spark, where only sums leave the engine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

from truelift import _frame
from truelift.engines import engine_name, lazy_frame
from truelift.errors import DataError, DesignError
from truelift.result import jsonable

__all__ = ["PowerInputs", "PowerResult", "power", "power_inputs"]

Alternative = Literal["two-sided", "one-sided"]


@dataclass(frozen=True)
class PowerResult:
    """A solved power calculation. ``n_total`` counts users in every arm together."""

    solved_for: str
    effect: float
    relative_effect: float | None
    n_total: float
    n_per_arm: tuple[float, ...]
    n_clusters: float | None
    power: float
    alpha: float
    sd: float
    effective_sd: float
    rho: float
    icc: float
    cluster_size: float
    design_effect: float
    allocation: float
    n_arms: int
    alternative: str

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(asdict(self)))

    def __str__(self) -> str:
        rel = f" ({self.relative_effect:+.2%} relative)" if self.relative_effect is not None else ""
        cl = f", {self.n_clusters:,.0f} clusters" if self.n_clusters is not None else ""
        return (
            f"Power analysis (solved for {self.solved_for}): effect {self.effect:+.4g}{rel}, "
            f"n = {self.n_total:,.0f} users{cl}, power {self.power:.3f} at alpha {self.alpha:g} "
            f"({self.alternative}); sd {self.sd:.4g} -> effective sd {self.effective_sd:.4g} "
            f"(CUPED rho {self.rho:g}, design effect {self.design_effect:.3g})."
        )


def _power_at(delta: float, se: float, alpha: float, alternative: Alternative) -> float:
    if alternative == "one-sided":
        return float(stats.norm.cdf(abs(delta) / se - stats.norm.ppf(1 - alpha)))
    z = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.cdf(abs(delta) / se - z) + stats.norm.cdf(-abs(delta) / se - z))


def _resolve_sd(sd: float | None, baseline: float | None) -> float:
    if sd is not None:
        if not sd > 0:
            raise DesignError(f"sd must be positive; got {sd}.")
        return float(sd)
    if baseline is None:
        raise DesignError(
            "give sd (the outcome's standard deviation) or, for a 0/1 outcome, baseline (its "
            "control-arm rate)."
        )
    if not 0 < baseline < 1:
        raise DesignError(
            f"without sd, baseline must be a rate in (0, 1) (a 0/1 outcome); got {baseline}."
        )
    return math.sqrt(baseline * (1 - baseline))


def _check(alpha: float, rho: float, icc: float, cluster_size: float, allocation: float) -> None:
    if not 0 < alpha < 1:
        raise DesignError(f"alpha must lie in (0, 1); got {alpha}.")
    if not -1 < rho < 1:
        raise DesignError(f"rho (covariate-outcome correlation) must lie in (-1, 1); got {rho}.")
    if not 0 <= icc <= 1:
        raise DesignError(f"icc must lie in [0, 1]; got {icc}.")
    if cluster_size < 1:
        raise DesignError(f"cluster_size must be at least 1; got {cluster_size}.")
    if not 0 < allocation < 1:
        raise DesignError(f"allocation (treated share) must lie in (0, 1); got {allocation}.")


def power(
    *,
    effect: float | None = None,
    n: float | None = None,
    power: float | None = None,
    alpha: float = 0.05,
    sd: float | None = None,
    baseline: float | None = None,
    relative: bool = False,
    rho: float = 0.0,
    icc: float = 0.0,
    cluster_size: float = 1.0,
    allocation: float = 0.5,
    n_arms: int = 2,
    alternative: Alternative = "two-sided",
) -> PowerResult:
    """Solve for whichever of ``effect`` (MDE), ``n`` (total users) or ``power`` is ``None``.

    Args:
        effect: absolute difference in means (or relative to ``baseline`` if ``relative``).
        n: total users across arms; with ``n_arms > 2`` arms are equal and each comparison
            uses two arms (apply a multiplicity correction through ``alpha`` yourself).
        power: target power, e.g. 0.8.
        sd / baseline: outcome standard deviation, or the control rate of a 0/1 outcome.
        rho: correlation of the CUPED covariate with the outcome (variance x ``1 - rho**2``).
        icc / cluster_size: intra-cluster correlation and users per cluster (cluster design).
        allocation: share of users in treatment (two arms only).
    """
    given = {"effect": effect, "n": n, "power": power}
    missing = [k for k, v in given.items() if v is None]
    if len(missing) != 1:
        raise DesignError(
            f"give exactly two of effect, n and power (one to solve for); got None for {missing}."
        )
    if alternative not in ("two-sided", "one-sided"):
        raise DesignError(f"alternative must be 'two-sided' or 'one-sided'; got {alternative!r}.")
    if n_arms < 2 or (n_arms > 2 and allocation != 0.5):
        raise DesignError("n_arms must be >= 2; with more than two arms allocation must be 0.5.")
    _check(alpha, rho, icc, cluster_size, allocation)
    if power is not None and not alpha < power < 1:
        raise DesignError(f"power must lie in (alpha, 1); got {power}.")
    sigma = _resolve_sd(sd, baseline)
    if relative and not baseline:
        raise DesignError("relative=True needs baseline (the control mean) to scale the effect.")
    if effect is not None and effect == 0:
        raise DesignError("effect must be non-zero.")
    deff = 1 + (cluster_size - 1) * icc
    eff_sd = sigma * math.sqrt((1 - rho**2) * deff)
    shares = (allocation, 1 - allocation) if n_arms == 2 else (1 / n_arms,) * 2
    scale = float(baseline) if relative and baseline else 1.0
    delta_in = None if effect is None else float(effect) * scale
    delta, n_tot, pw = _solve(delta_in, n, power, eff_sd, shares, alpha, alternative)
    n_arm = (n_tot * shares[0], n_tot * shares[1]) if n_arms == 2 else (n_tot / n_arms,) * n_arms
    return PowerResult(
        solved_for=missing[0],
        effect=delta,
        relative_effect=(delta / baseline) if baseline else None,
        n_total=n_tot,
        n_per_arm=tuple(float(v) for v in n_arm),
        n_clusters=(n_tot / cluster_size) if cluster_size > 1 else None,
        power=pw,
        alpha=alpha,
        sd=sigma,
        effective_sd=eff_sd,
        rho=rho,
        icc=icc,
        cluster_size=float(cluster_size),
        design_effect=deff,
        allocation=allocation,
        n_arms=n_arms,
        alternative=alternative,
    )


def _solve(
    delta: float | None,
    n: float | None,
    pw: float | None,
    eff_sd: float,
    shares: tuple[float, float],
    alpha: float,
    alternative: Alternative,
) -> tuple[float, float, float]:
    """Fill in the one missing of (effect, n, power); returns all three."""

    def se_of(n_: float) -> float:
        return eff_sd * math.sqrt(1 / (n_ * shares[0]) + 1 / (n_ * shares[1]))

    if pw is None:
        d, nn = float(delta), float(n)  # type: ignore[arg-type]
        return d, nn, _power_at(d, se_of(nn), alpha, alternative)
    target = float(pw)
    if n is None:
        d = float(delta)  # type: ignore[arg-type]
        f = lambda n_: _power_at(d, se_of(n_), alpha, alternative) - target  # noqa: E731
        return d, float(optimize.brentq(f, 2.0, 1e13, xtol=1e-6)), target
    se = se_of(float(n))
    g = lambda d_: _power_at(d_, se, alpha, alternative) - target  # noqa: E731
    return float(optimize.brentq(g, 1e-12 * se, 100 * se, xtol=1e-14)), float(n), target


@dataclass(frozen=True)
class PowerInputs:
    """The variance inputs of :func:`power`, measured on past (pre-period) data.

    ``rho`` is the multiple correlation of the outcome with the covariates (CUPED multiplies the
    variance by ``1 - rho**2``); ``icc`` the one-way ANOVA intra-cluster correlation and
    ``cluster_size`` the mean cluster size (Donner & Klar 2000). ``kwargs()`` feeds :func:`power`.
    """

    n: int
    mean: float
    sd: float
    rho: float
    icc: float
    cluster_size: float
    n_clusters: int | None
    covariates: tuple[str, ...]
    engine: str
    transferred: str

    def kwargs(self) -> dict[str, float]:
        return {"sd": self.sd, "rho": self.rho, "icc": self.icc, "cluster_size": self.cluster_size}

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(asdict(self)))


def _icc(groups: np.ndarray, sum_yy: float) -> tuple[float, float, int]:
    """One-way ANOVA ICC from per-cluster counts and sums and the total sum of squares."""
    n_g, s_g = groups[:, 0], groups[:, 1]
    G, N, S = n_g.size, float(n_g.sum()), float(s_g.sum())
    if G < 2 or N <= G:
        raise DataError(f"an intra-cluster correlation needs >= 2 clusters with repeats; got {G}.")
    between = float(np.sum(s_g * s_g / n_g))
    msb = (between - S * S / N) / (G - 1)
    msw = (sum_yy - between) / (N - G)
    n0 = (N - float(np.sum(n_g * n_g)) / N) / (G - 1)
    icc = (msb - msw) / (msb + (n0 - 1) * msw) if msb + (n0 - 1) * msw > 0 else 0.0
    return float(min(max(icc, 0.0), 1.0)), N / G, G


def _inputs_from_sums(
    total: np.ndarray, groups: np.ndarray | None
) -> tuple[float, float, float, float, float, int | None]:
    """(mean, sd, rho, icc, cluster size, clusters) from the cross-products of ``[1, y, x]``."""
    n = total[0, 0]
    cen = total - np.outer(total[0], total[0]) / n
    syy = cen[1, 1]
    rho = 0.0
    if total.shape[0] > 2:
        sxx, sxy = cen[2:, 2:], cen[2:, 1]
        r2 = float(sxy @ np.linalg.solve(sxx, sxy)) / syy
        rho = float(np.sqrt(min(max(r2, 0.0), 1 - 1e-12)))
    icc, m, G = (0.0, 1.0, None) if groups is None else _icc(groups, float(total[1, 1]))
    return float(total[0, 1] / n), float(np.sqrt(syy / (n - 1))), rho, icc, m, G


def power_inputs(
    data: Any,
    *,
    outcome: str,
    covariates: Sequence[str] | None = None,
    cluster: str | None = None,
    missing: _frame.MissingPolicy = "raise",
) -> PowerInputs:
    """Measure ``sd``, the CUPED ``rho`` and the cluster ``icc`` for :func:`power` from past data.

    On a lazy table (DuckDB, polars lazy, Spark) only sums leave the engine: the cross-products of
    the outcome and covariates, and with ``cluster`` the per-cluster count and outcome sum.
    Usage: ``power(effect=0.02, power=0.8, **power_inputs(pre, outcome="y").kwargs())``.
    """
    from truelift.experiment._engine import lazy_design_sums

    covs = list(covariates or [])
    lf = lazy_frame(data)
    if lf is not None:
        total, names, groups, sent = lazy_design_sums(
            lf, outcome=outcome, covariates=covs, cluster=cluster, missing=missing
        )
        engine = engine_name(lf)
    else:
        cols = _frame.load(
            data, numeric={"outcome": outcome}, keys={"cluster": cluster}, covariates=covs,
            missing=missing,
        )  # fmt: skip
        W = np.column_stack([np.ones(cols.n_obs), cols["outcome"], cols.X])
        total, names = W.T @ W, cols.X_names
        groups = None
        if cluster is not None:
            g = cols["cluster"]
            groups = np.column_stack(
                [np.bincount(g).astype(float), np.bincount(g, weights=cols["outcome"])]
            )
        engine, sent = "in-memory", "nothing (rows analysed in memory)"
    mean, sd, rho, icc, m, G = _inputs_from_sums(total, groups)
    return PowerInputs(
        round(float(total[0, 0])), mean, sd, rho, icc, m, G, tuple(names), engine, sent
    )
