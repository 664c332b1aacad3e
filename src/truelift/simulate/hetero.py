"""Scenario ``hetero``: agent mode whose effect really differs by tier, confidence and tenure.

For uplift modelling and targeting (Künzel et al. 2019; Chernozhukov et al. GATES; Athey & Wager
2021 policy learning): a randomized test of agent mode with a held-out evaluation split, known
per-user effects, a per-user cost of the feature, and switches that remove the heterogeneity or
make assignment self-selected.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["hetero"]

TIERS = np.array(["light", "medium", "heavy"])
TIER_P = (0.55, 0.30, 0.15)
BASE_P = np.array([0.35, 0.55, 0.70])
TIER_EFFECT = np.array([-0.01, 0.08, 0.18])
OPT_IN_P = np.array([0.12, 0.35, 0.65])
COST_USD = 0.015  # incremental cost of agent mode per treated user
VALUE_USD = 0.50  # value of one completed task, for the cost-aware policy


def _draw_features(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    tier = rng.choice(3, size=n, p=TIER_P)
    confidence = rng.beta(5, 2, size=n)
    tenure = rng.integers(0, 104, size=n)
    return tier, confidence, tenure


def _probabilities(
    tier: np.ndarray, confidence: np.ndarray, tenure: np.ndarray, heterogeneous: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(p0, p1): task-completion probability without and with agent mode."""
    p0 = BASE_P[tier] + 0.10 * (confidence - 0.7) + 0.0008 * np.minimum(tenure, 52)
    if heterogeneous:
        tau = (
            TIER_EFFECT[tier]
            + 0.30 * np.clip(0.8 - confidence, -0.2, 0.8)  # hard (low-confidence) queries gain
            + 0.06 * np.exp(-tenure / 26.0)  # new users gain more
            - 0.04
        )
    else:
        tau = np.full(tier.shape, 0.06)
    return np.clip(p0, 0.01, 0.99), np.clip(p0 + tau, 0.01, 0.99)


def _policies(
    tier: np.ndarray, p0: np.ndarray, p1: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Named policies: (decision 0/1, true net value per user in USD)."""
    cate = p1 - p0
    rules = {
        "treat_all": np.ones_like(p0),
        "treat_none": np.zeros_like(p0),
        "not_light": (tier != 0).astype(float),
        "oracle": (VALUE_USD * cate > COST_USD).astype(float),
    }
    return {k: (d, VALUE_USD * (d * p1 + (1 - d) * p0) - COST_USD * d) for k, d in rules.items()}


@functools.lru_cache(maxsize=4)
def _population_values(heterogeneous: bool) -> dict[str, float]:
    """Population policy values by Monte Carlo over 2,000,000 users (fixed seed; MC se ~1e-4)."""
    rng = np.random.default_rng(20240601)
    tier, conf, ten = _draw_features(rng, 2_000_000)
    p0, p1 = _probabilities(tier, conf, ten, heterogeneous)
    out = {f"policy_value_{k}": float(v.mean()) for k, (_, v) in _policies(tier, p0, p1).items()}
    out["ate_population"] = float(np.mean(p1 - p0))
    return out


@scenario("hetero")
def hetero(
    *,
    n_users: int = 20_000,
    seed: int | np.random.Generator | None = 42,
    heterogeneous: bool = True,
    randomized: bool = True,
    holdout_share: float = 0.3,
) -> Simulation:
    """Randomized agent-mode test with real effect heterogeneity (one row per user).

    Features: ``engagement_tier`` (light/medium/heavy, p = .55/.30/.15), ``query_confidence``
    ~ Beta(5, 2), ``tenure_weeks`` uniform 0-103. Assignment ``agent_mode`` ~ Bernoulli(0.5)
    (``propensity`` column = 0.5); ``split`` = ``"holdout"`` for a random ``holdout_share`` of
    users (evaluate there), else ``"train"``.

    Outcome ``task_completed`` ~ Bernoulli(p), p0 = clip(base(tier) + .10 (confidence - .7)
    + .0008 min(tenure, 52)), base = .35/.55/.70; p1 = clip(p0 + tau) with
    tau = tier effect (-.01/.08/.18) + .30 clip(.8 - confidence, -.2, .8) + .06 exp(-tenure/26)
    - .04: heavy users, hard queries and new users gain most; some light users with easy queries
    gain nothing or lose. ``cost_usd`` = .015 per treated user; a completed task is worth $0.50.

    Truths: per user, the column ``true_cate`` (p1 - p0) and ``true_p0``/``true_p1``; in
    ``truths``: ``ate`` (sample mean of true_cate), ``ate_population``, ``ate_<tier>``,
    ``cate_sd``, and the population net values in USD per user, E[0.5 Y(pi) - 0.015 pi], of the
    policies ``treat_all``, ``treat_none``, ``not_light`` (treat medium and heavy users) and
    ``oracle`` (treat when 0.5 tau(x) > 0.015) as ``policy_value_<name>``; the column
    ``oracle_policy`` holds the oracle decisions.

    Switches: ``heterogeneous=False`` gives every user the same effect (+0.06), so a correct
    heterogeneity test should not reject; ``randomized=False`` makes users self-select into agent
    mode by tier (p = .12/.35/.65, saved in ``propensity``), so evaluation needs IPW.
    """
    rng = as_generator(seed)
    n = n_users
    tier, conf, tenure = _draw_features(rng, n)
    e = np.full(n, 0.5) if randomized else OPT_IN_P[tier]
    treat = rng.binomial(1, e)
    holdout = rng.random(n) < holdout_share
    p0, p1 = _probabilities(tier, conf, tenure, heterogeneous)
    y = rng.binomial(1, np.where(treat == 1, p1, p0))
    cate = p1 - p0
    policies = _policies(tier, p0, p1)
    data = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "engagement_tier": pd.Categorical.from_codes(tier, categories=pd.Index(TIERS)),
            "query_confidence": np.round(conf, 4),
            "tenure_weeks": tenure,
            "split": np.where(holdout, "holdout", "train"),
            "agent_mode": treat,
            "propensity": e,
            "task_completed": y,
            "cost_usd": COST_USD * treat,
            "true_p0": p0,
            "true_p1": p1,
            "true_cate": cate,
            "oracle_policy": policies["oracle"][0].astype(np.int64),
        }
    )
    truths = {
        "ate": float(cate.mean()),
        **{f"ate_{t}": float(cate[tier == i].mean()) for i, t in enumerate(TIERS)},
        "cate_sd": float(cate.std()),
        **_population_values(heterogeneous),
        "cost_usd_per_treated": COST_USD,
        "value_usd_per_task": VALUE_USD,
    }
    return Simulation(
        scenario="hetero",
        data=data,
        truths=truths,
        params={
            "n_users": n,
            "seed": seed if not isinstance(seed, np.random.Generator) else None,
            "heterogeneous": heterogeneous,
            "randomized": randomized,
            "holdout_share": holdout_share,
        },
        description=(hetero.__doc__ or "").strip(),
    )
