"""Scenario ``optin``: a self-selected feature toggle with richer confounding.

Users choose to turn on agent mode; who opts in depends on engagement tier, plan, tenure (through
its logarithm: the selection is non-linear in ``tenure_months``) and prior activity, and the
effect differs by tier and plan, so the ATE and the ATT differ. Two switches break the design:
``limited_overlap`` (selection so strong that many light free-plan newcomers essentially never
opt in: positivity fails for the ATE) and ``hidden_confounder`` (an unrecorded "frustrated"
trait makes users both opt in more and complete fewer tasks: the adjusted estimate is biased
toward zero and no measured covariate can fix it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["optin"]

TIERS = np.array(["light", "medium", "heavy"])
PLANS = np.array(["free", "pro", "enterprise"])
P_TIER = np.array([0.5, 0.3, 0.2])
P_PLAN = np.array([0.6, 0.3, 0.1])
PRIOR_MEAN = np.array([2.0, 5.0, 8.0])  # Poisson mean of prior weekly tasks by tier
TENURE_MU, TENURE_SIGMA, TENURE_MAX, PRIOR_MAX = 2.0, 0.8, 60, 20
P_FRUSTRATED = 0.3
# selection (logit) and outcome (probability) coefficients
SEL = {
    "b0": -2.2,
    "tier": (0.0, 0.8, 1.4),
    "plan": (0.0, 0.5, 0.9),
    "log_tenure": 0.35,
    "prior": 0.04,
    "frustrated": 1.5,
}
OUT = {
    "b0": 0.25,
    "tier": (0.0, 0.08, 0.16),
    "plan": (0.0, 0.04, 0.07),
    "log_tenure": 0.03,
    "prior": 0.006,
    "frustrated": -0.12,
}
EFFECT = {"b0": 0.05, "heavy": 0.03, "enterprise": 0.02}
OVERLAP_STRENGTH, OVERLAP_SHIFT = 2.5, -1.5


def _eta(
    tier: np.ndarray,
    plan: np.ndarray,
    log_tenure: np.ndarray,
    prior: np.ndarray,
    u: np.ndarray,
    hidden: bool,
    limited: bool,
) -> np.ndarray:
    eta = (
        SEL["b0"]
        + np.asarray(SEL["tier"])[tier]
        + np.asarray(SEL["plan"])[plan]
        + SEL["log_tenure"] * log_tenure
        + SEL["prior"] * prior
    )
    if limited:
        eta = OVERLAP_STRENGTH * eta + OVERLAP_SHIFT
    if hidden:
        eta = eta + SEL["frustrated"] * u
    return eta


def _tau(tier: np.ndarray, plan: np.ndarray) -> np.ndarray:
    return EFFECT["b0"] + EFFECT["heavy"] * (tier == 2) + EFFECT["enterprise"] * (plan == 2)


def _tenure_pmf() -> tuple[np.ndarray, np.ndarray]:
    """P(tenure_months = m), m = 1..60, for ceil(lognormal) clipped to [1, 60]."""
    m = np.arange(1, TENURE_MAX + 1)
    cdf = stats.norm.cdf((np.log(m) - TENURE_MU) / TENURE_SIGMA)
    pmf = np.diff(np.concatenate(([0.0], cdf)))
    pmf[-1] += 1 - cdf[-1]
    return m.astype(float), pmf


def _population_truths(hidden: bool, limited: bool) -> dict[str, float]:
    """Exact population ATE / ATT by summing over the covariate distribution."""
    months, p_ten = _tenure_pmf()
    num_att = den_att = 0.0
    for ti in range(3):
        k = np.arange(PRIOR_MAX + 1)
        p_prior = stats.poisson.pmf(k, PRIOR_MEAN[ti])
        p_prior[-1] += stats.poisson.sf(PRIOR_MAX, PRIOR_MEAN[ti])
        for pi in range(3):
            cell = P_TIER[ti] * P_PLAN[pi]
            tau = float(_tau(np.array([ti]), np.array([pi]))[0])
            e_mean = 0.0
            for u, pu in ((0.0, 1 - P_FRUSTRATED), (1.0, P_FRUSTRATED)):
                eta = _eta(
                    np.full((months.size, k.size), ti),
                    np.full((months.size, k.size), pi),
                    np.log(months)[:, None],
                    k[None, :],
                    np.array(u),
                    hidden,
                    limited,
                )
                e_mean += pu * float(p_ten @ expit(eta) @ p_prior)
            num_att += cell * e_mean * tau
            den_att += cell * e_mean
    ate = EFFECT["b0"] + EFFECT["heavy"] * P_TIER[2] + EFFECT["enterprise"] * P_PLAN[2]
    return {"agent_ate": float(ate), "agent_att": float(num_att / den_att)}


@scenario("optin")
def optin(
    *,
    n_users: int = 20_000,
    seed: int | np.random.Generator | None = 42,
    limited_overlap: bool = False,
    hidden_confounder: bool = False,
) -> Simulation:
    """Opt-in agent mode with confounded, non-linear selection (default 20,000 users, seed 42).

    Data-generating process (one ``numpy.random.default_rng(seed)``, draws in this order):
    ``engagement_tier`` light/medium/heavy (p = .5/.3/.2); ``plan`` free/pro/enterprise
    (.6/.3/.1); ``tenure_months`` = ceil(LogNormal(2.0, 0.8)) clipped to 1-60 (``log_tenure`` =
    its log); ``prior_tasks`` ~ Poisson(2/5/8 by tier) capped at 20; a hidden trait
    ``frustrated`` ~ Bernoulli(.3) (never in the data); ``workspace_id`` 0-199; opt-in
    ``agent_mode`` ~ Bernoulli(expit(eta)) with
    eta = -2.2 + (0, .8, 1.4)[tier] + (0, .5, .9)[plan] + .35 log_tenure + .04 prior_tasks
    (linear in ``log_tenure``, so non-linear in ``tenure_months``); ``task_completed`` ~
    Bernoulli(p) with p = .25 + (0, .08, .16)[tier] + (0, .04, .07)[plan] + .03 log_tenure
    + .006 prior_tasks + tau * agent_mode, tau = .05 + .03 [heavy] + .02 [enterprise]
    (p stays inside (0, 1): no clipping, so per-arm linear outcome models are correct).

    Switches:
    ``limited_overlap``: eta -> 2.5 eta - 1.5, so light free-plan users with little activity
    almost never opt in (propensity < 0.01 for several percent of users): the ATE is not
    identified; the ATT is. ``hidden_confounder``: eta += 1.5 frustrated and p -= .12 frustrated;
    the frustrated trait is not in the data, so adjusted estimates are biased toward zero.

    Truths: ``agent_ate`` and ``agent_att`` (population values, computed exactly by summing over
    the covariate distribution), ``agent_ate_sample`` / ``agent_att_sample`` (the same averages
    of tau over this sample's users / its opted-in users).
    Recommended covariates: ``engagement_tier, plan, log_tenure, prior_tasks``.
    """
    rng = as_generator(seed)
    n = n_users
    tier = rng.choice(3, size=n, p=P_TIER)
    plan = rng.choice(3, size=n, p=P_PLAN)
    tenure = np.clip(np.ceil(rng.lognormal(TENURE_MU, TENURE_SIGMA, size=n)), 1, TENURE_MAX)
    prior = np.minimum(rng.poisson(PRIOR_MEAN[tier]), PRIOR_MAX)
    frustrated = rng.binomial(1, P_FRUSTRATED, size=n).astype(float)
    workspace = rng.integers(0, 200, size=n)
    log_tenure = np.log(tenure)
    e = expit(_eta(tier, plan, log_tenure, prior, frustrated, hidden_confounder, limited_overlap))
    treat = rng.binomial(1, e)
    tau = _tau(tier, plan)
    p = (
        OUT["b0"]
        + np.asarray(OUT["tier"])[tier]
        + np.asarray(OUT["plan"])[plan]
        + OUT["log_tenure"] * log_tenure
        + OUT["prior"] * prior
        + tau * treat
    )
    if hidden_confounder:
        p = p + OUT["frustrated"] * frustrated
    task = rng.binomial(1, p)
    data = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "workspace_id": workspace,
            "engagement_tier": pd.Categorical.from_codes(tier, categories=pd.Index(TIERS)),
            "plan": pd.Categorical.from_codes(plan, categories=pd.Index(PLANS)),
            "tenure_months": tenure.astype(np.int64),
            "log_tenure": log_tenure,
            "prior_tasks": prior.astype(np.int64),
            "agent_mode": treat,
            "task_completed": task,
        }
    )
    truths = {
        **_population_truths(hidden_confounder, limited_overlap),
        "agent_ate_sample": float(tau.mean()),
        "agent_att_sample": float(tau[treat == 1].mean()),
    }
    return Simulation(
        scenario="optin",
        data=data,
        truths=truths,
        params={
            "n_users": n,
            "seed": seed if not isinstance(seed, np.random.Generator) else None,
            "limited_overlap": limited_overlap,
            "hidden_confounder": hidden_confounder,
        },
        description=(optin.__doc__ or "").strip(),
    )
