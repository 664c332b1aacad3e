"""Sequential monitoring: always-valid confidence sequences, so that peeking is safe.

A fixed-horizon 95 % interval covers the truth 95 % of the time *at the planned sample size*;
checking it every day and stopping at the first "significant" look inflates the false-positive rate
far above 5 %. A confidence sequence (CS) covers the truth at every sample size simultaneously, so
the experiment may be monitored continuously and stopped at any time.

We use the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023,
"Time-uniform central limit theory and asymptotic confidence sequences", Thm 2.2) for the
difference in means, with Robbins' two-sided normal-mixture boundary (Howard, Ramdas, McAuliffe &
Sekhon 2021, Ann. Statist.):

    estimate_t +- sigma_t * sqrt( 2 (t rho^2 + 1) / (t^2 rho^2) * log( sqrt(t rho^2 + 1) / alpha ) )

where ``sigma_t^2 = t (s_1^2 / n_1 + s_0^2 / n_0)`` is the influence-function variance per unit and
``rho`` is tuned so the CS is tightest at the planned sample size. Its dual is the always-valid
p-value of the normal-mixture mSPRT (Johari, Koomen, Pekelis & Walsh 2017/2022, Oper. Res.):
``p_t = min_{s <= t} min(1, sqrt(s rho^2 + 1) exp(-s^2 rho^2 est_s^2 / (2 sigma_s^2 (s rho^2 + 1))))``.

:func:`peeking_simulation` demonstrates the point on A/A tests: naive repeated looks at the
fixed-horizon test against the same looks at the CS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from truelift import _frame
from truelift.errors import DataError, DesignError
from truelift.experiment.abtest import arm_order
from truelift.experiment.srm import srm_check
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate, jsonable

__all__ = ["PeekingStudy", "cs_halfwidth", "mixture_rho", "peeking_simulation", "sequential_test"]

_BURN_IN = 100  # units per arm before the asymptotic CS is trusted


def mixture_rho(t_star: float, alpha: float) -> float:
    """The mixture parameter that makes the CS tightest at ``t_star`` units (WS et al. 2023)."""
    la = -2 * np.log(alpha)
    return float(np.sqrt((la + np.log(la + 1)) / t_star))


def cs_halfwidth(t: np.ndarray, sigma: np.ndarray, alpha: float, rho: float) -> np.ndarray:
    """Half-width of the two-sided normal-mixture asymptotic CS at sample sizes ``t``."""
    r2 = rho**2
    return sigma * np.sqrt(2 * (t * r2 + 1) / (t**2 * r2) * np.log(np.sqrt(t * r2 + 1) / alpha))


def _always_valid_p(t: np.ndarray, est: np.ndarray, sigma: np.ndarray, rho: float) -> np.ndarray:
    r2 = rho**2
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        log_p = 0.5 * np.log(t * r2 + 1) - t**2 * r2 * est**2 / (2 * sigma**2 * (t * r2 + 1))
    p = np.minimum(1.0, np.exp(np.nan_to_num(log_p, nan=0.0)))
    return np.minimum.accumulate(p)


def _look_stats(treat: np.ndarray, y: np.ndarray, looks: np.ndarray) -> dict[str, np.ndarray]:
    """Cumulative difference in means and per-unit IF variance at each look (row counts).

    The outcome is centred at its mean first: the difference and the variances do not change,
    and the cumulative sums of squares then do not cancel when the mean is large next to the
    spread."""
    y = y - float(np.mean(y))
    cum = {
        name: np.cumsum(v)[looks - 1]
        for name, v in {
            "n1": treat,
            "s1": treat * y,
            "q1": treat * y * y,
            "s0": (1 - treat) * y,
            "q0": (1 - treat) * y * y,
        }.items()
    }
    n1, n0 = cum["n1"], looks - cum["n1"]
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m0 = cum["s1"] / n1, cum["s0"] / n0
        v1 = (cum["q1"] - n1 * m1**2) / (n1 - 1)
        v0 = (cum["q0"] - n0 * m0**2) / (n0 - 1)
        var_mean = v1 / n1 + v0 / n0
    return {"n": looks.astype(float), "n1": n1, "n0": n0, "est": m1 - m0, "var": var_mean}


def _resolve_looks(looks: int | Sequence[int], n: int) -> np.ndarray:
    if isinstance(looks, (int, np.integer)):
        if looks < 1:
            raise DesignError(f"looks must be a positive integer or a list of sizes; got {looks}.")
        return np.unique(np.linspace(n / looks, n, int(looks)).round().astype(np.int64))
    arr = np.unique(np.asarray(list(looks), dtype=np.int64))
    if arr.size == 0 or arr[0] < 1 or arr[-1] > n:
        raise DesignError(f"looks must be sample sizes between 1 and {n}; got {list(looks)}.")
    return arr


def _sequence(
    treat: np.ndarray, y: np.ndarray, looks: np.ndarray, alpha: float, t_star: float
) -> dict[str, np.ndarray]:
    s = _look_stats(treat, y, looks)
    rho = mixture_rho(t_star, alpha)
    sigma = np.sqrt(s["var"] * s["n"])
    half = cs_halfwidth(s["n"], sigma, alpha, rho)
    ok = (s["n1"] >= 2) & (s["n0"] >= 2)
    lo = np.where(ok, s["est"] - half, -np.inf)
    hi = np.where(ok, s["est"] + half, np.inf)
    s["cs_low"] = np.maximum.accumulate(lo)  # running intersection: still valid, never wider
    s["cs_high"] = np.minimum.accumulate(hi)
    s["p_always_valid"] = _always_valid_p(s["n"], np.where(ok, s["est"], 0.0), sigma, rho)
    s["rho"] = np.array([rho])
    return s


def _burn_in_check(n1: float, n0: float) -> Diagnostic:
    small = min(n1, n0) < _BURN_IN
    return Diagnostic(
        name="sequential burn-in",
        verdict="warn" if small else "pass",
        value=float(min(n1, n0)),
        threshold=f">= {_BURN_IN} units per arm",
        message=(
            f"The smaller arm has {min(n1, n0):,.0f} units; the asymptotic confidence sequence "
            "relies on the central limit theorem and is only trustworthy after a burn-in."
            if small
            else "Enough units per arm for the asymptotic confidence sequence."
        ),
        consequence="none",
    )


def sequential_test(
    data: Any,
    *,
    outcome: str,
    variant: str,
    control: Any = None,
    order: str | None = None,
    looks: int | Sequence[int] = 20,
    planned_n: int | None = None,
    alpha: float = 0.05,
    expected_split: Sequence[float] | None = None,
    missing: _frame.MissingPolicy = "raise",
    conf_level: float | None = None,
) -> Estimate:
    """Always-valid readout of a two-arm test monitored at ``looks`` (rows in arrival order).

    Args:
        order: column giving arrival order (timestamp, sequence number; anything sortable);
            default the row order.
        looks: number of evenly spaced looks, or the sample sizes at which you looked.
        planned_n: sample size at which the CS should be tightest; default the data's size.
        alpha: error level of the CS (``1 - conf_level`` if that is given).

    The headline interval is the confidence sequence at the last look (running intersection over
    the looks); the p-value is the always-valid mSPRT p-value. Both stay valid however often you
    looked and whenever you stopped. ``details["looks"]`` holds the whole path.
    """
    if conf_level is not None:
        alpha = 1 - conf_level
    if not 0 < alpha < 1:
        raise DesignError(f"alpha must lie strictly between 0 and 1; got {alpha}.")
    cols = _frame.load(
        data,
        numeric={"outcome": outcome},
        keys={"variant": variant, "order": order},
        missing=missing,
    )
    levels = cols.levels["variant"]
    if levels.size != 2:
        raise DataError(
            f"Variant column {variant!r} must have exactly two arms for a sequential test; found "
            f"{levels.size}: {[str(v) for v in levels]}."
        )
    arms = arm_order(levels, control)
    treat = (cols["variant"] == arms[1]).astype(float)
    y = cols["outcome"]
    if order is not None:
        idx = np.argsort(cols["order"], kind="stable")
        treat, y = treat[idx], y[idx]
    n = cols.n_obs
    lk = _resolve_looks(looks, n)
    t_star = float(planned_n) if planned_n else float(n)
    s = _sequence(treat, y, lk, alpha, t_star)
    return _sequential_estimate(
        s,
        cols,
        arms,
        levels,
        locals_=dict(
            outcome=outcome,
            variant=variant,
            alpha=alpha,
            t_star=t_star,
            order=order,
            expected_split=expected_split,
            missing=missing,
        ),
    )


def _sequential_estimate(
    s: dict[str, np.ndarray],
    cols: _frame.Columns,
    arms: list[int],
    levels: np.ndarray,
    locals_: dict[str, Any],
) -> Estimate:
    alpha = locals_["alpha"]
    est, se = float(s["est"][-1]), float(np.sqrt(s["var"][-1]))
    fixed_lo, fixed_hi, fixed_p = interval(est, se, 1 - alpha)
    labels = [str(levels[i]) for i in arms]
    srm = srm_check([s["n0"][-1], s["n1"][-1]], labels, expected_split=locals_["expected_split"])
    look_table = {
        key: s[key].tolist() for key in ("n", "est", "cs_low", "cs_high", "p_always_valid")
    }
    q = float(np.sqrt(2) * _erfinv(1 - alpha))
    look_table["fixed_low"] = (s["est"] - q * np.sqrt(s["var"])).tolist()
    look_table["fixed_high"] = (s["est"] + q * np.sqrt(s["var"])).tolist()
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=float(s["cs_low"][-1]),
        ci_high=float(s["cs_high"][-1]),
        conf_level=1 - alpha,
        p_value=float(s["p_always_valid"][-1]),
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        estimand=(
            f"average effect of assignment to {locals_['variant']} = {labels[1]} vs {labels[0]} "
            f"on mean {locals_['outcome']} (difference), monitored sequentially"
        ),
        method="sequential test: asymptotic confidence sequence (normal mixture)",
        params={
            "design": "experiment",
            "analysis": "sequential",
            "outcome": locals_["outcome"],
            "variant": locals_["variant"],
            "control": labels[0],
            "alpha": alpha,
            "planned_n": locals_["t_star"],
            "rho": float(s["rho"][0]),
            "n_looks": int(s["n"].size),
            "order": locals_["order"],
            "missing": locals_["missing"],
        },
        diagnostics=(srm, _burn_in_check(float(s["n1"][-1]), float(s["n0"][-1]))),
        inference=(
            "always-valid: Waudby-Smith et al. (2023) asymptotic confidence sequence with "
            "Howard et al. (2021) normal-mixture boundary, running intersection over looks; "
            "always-valid mSPRT p-value (Johari et al. 2017)"
        ),
        details={
            "looks": look_table,
            "fixed_horizon": {"ci": [fixed_lo, fixed_hi], "p_value": fixed_p},
        },
    )


def _erfinv(x: float) -> float:
    from scipy.special import erfinv

    return float(erfinv(x))


@dataclass(frozen=True)
class PeekingStudy:
    """False-positive rates of A/A tests checked at ``looks`` evenly spaced looks."""

    n_sims: int
    n: int
    looks: int
    alpha: float
    fixed_horizon_fpr: float  # one look at the end: the nominal test
    naive_peeking_fpr: float  # stop at the first look with p < alpha
    sequential_fpr: float  # stop at the first look whose CS excludes 0

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(asdict(self)))


def peeking_simulation(
    *,
    n_sims: int = 1000,
    n: int = 2000,
    looks: int = 20,
    alpha: float = 0.05,
    rng: int | np.random.Generator | None = None,
    chunk: int = 100,
) -> PeekingStudy:
    """Simulate A/A tests (no effect, skewed outcome) and count false positives three ways."""
    if n_sims < 1 or n < 8 or looks < 1:
        raise DesignError("n_sims >= 1, n >= 8 and looks >= 1 are required.")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    lk = _resolve_looks(looks, n)
    rho = mixture_rho(float(n), alpha)
    z = float(np.sqrt(2) * _erfinv(1 - alpha))
    hits = np.zeros(3)
    done = 0
    while done < n_sims:
        b = min(chunk, n_sims - done)
        treat = gen.integers(0, 2, size=(b, n)).astype(float)
        y = gen.exponential(1.0, size=(b, n))
        for i in range(b):
            s = _look_stats(treat[i], y[i], lk)
            se = np.sqrt(s["var"])
            sigma = se * np.sqrt(s["n"])
            reject_naive = np.abs(s["est"]) > z * se
            reject_cs = np.abs(s["est"]) > cs_halfwidth(s["n"], sigma, alpha, rho)
            hits += [reject_naive[-1], reject_naive.any(), reject_cs.any()]
        done += b
    rates = hits / n_sims
    return PeekingStudy(n_sims, n, int(lk.size), alpha, *map(float, rates))
