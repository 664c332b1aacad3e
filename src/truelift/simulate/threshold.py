"""Scenario ``threshold``: a confidence router with a cut-off (regression discontinuity).

Data for the RD design (Calonico, Cattaneo & Titiunik 2014; Cattaneo, Jansson & Ma 2020 for the
manipulation test), one row per query.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["threshold"]

CUTOFF = 0.85
EFFECT = 0.06


@scenario("threshold")
def threshold(
    *,
    n_users: int = 20_000,
    seed: int | np.random.Generator | None = 42,
    manipulation: bool = False,
    fuzzy: bool = False,
) -> Simulation:
    """Queries routed to a premium model when the router's confidence is below 0.85.

    Data-generating process (one row per query, ``n_users`` rows):

    * ``heavy_user`` ~ Bernoulli(0.3); ``prior_success`` ~ N(0.55 + 0.1 heavy, 0.1) (both
      pre-treatment covariates, continuous at the cut-off by construction);
    * ``query_confidence`` ~ Beta(5, 2) + 0.03 heavy, clipped to [0, 1] (the running variable);
    * ``routed_to_premium`` = [query_confidence < 0.85] (sharp);
    * ``task_completed`` ~ Bernoulli(p) with
      p = 0.25 + 0.45 c - 0.6 (c - 0.85)^2 + 0.05 heavy + 0.3 (prior_success - 0.55)
      + 0.06 routed, where c is the confidence: the running variable moves the outcome with a
      slope and a curvature, and the premium model adds 0.06 everywhere (p is clipped to
      [0.01, 0.99], which binds only for confidence far below the cut-off).

    Truth: ``truths["premium_effect_at_cutoff"] = 0.06`` (effect of the premium model on
    task completion at confidence 0.85; below the cut-off is the treated side).

    Switches:
      manipulation: 60 % of heavy users' queries with confidence in [0.85, 0.90) are rephrased
        until they score just below the cut-off (uniform on [0.83, 0.85)): bunching below the
        cut-off, and the bunched queries come from heavier users, so the RD estimate is biased.
        The density test must fail.
      fuzzy: overrides. 15 % of below-cut-off queries stay on the base model (premium capacity
        limits) and 10 % of above-cut-off queries are sent to premium (VIP override);
        ``routed_to_premium`` is the treatment actually received and ``below_cutoff`` the rule.
        The complier effect at the cut-off is still 0.06.
    """
    rng = as_generator(seed)
    n = int(n_users)
    heavy = rng.binomial(1, 0.3, n)
    prior = rng.normal(0.55 + 0.1 * heavy, 0.1, n)
    conf = np.clip(rng.beta(5, 2, n) + 0.03 * heavy, 0.0, 1.0)
    moved = np.zeros(n, dtype=bool)
    if manipulation:
        near = (conf >= CUTOFF) & (conf < CUTOFF + 0.05) & (heavy == 1)
        moved = near & (rng.random(n) < 0.6)
        conf = np.where(moved, rng.uniform(CUTOFF - 0.02, CUTOFF, n), conf)
    below = (conf < CUTOFF).astype(np.int64)
    routed = below.copy()
    if fuzzy:
        u = rng.random(n)
        routed = np.where(below == 1, (u >= 0.15).astype(np.int64), (u < 0.10).astype(np.int64))
    p = (
        0.25
        + 0.45 * conf
        - 0.6 * (conf - CUTOFF) ** 2
        + 0.05 * heavy
        + 0.3 * (prior - 0.55)
        + EFFECT * routed
    )
    p = np.clip(p, 0.01, 0.99)
    task = rng.binomial(1, p)
    data = pd.DataFrame(
        {
            "query_id": np.arange(n),
            "heavy_user": heavy,
            "prior_success": prior.round(4),
            "query_confidence": conf,
            "below_cutoff": below,
            "routed_to_premium": routed,
            "task_completed": task,
        }
    )
    return Simulation(
        scenario="threshold",
        data=data,
        truths={"premium_effect_at_cutoff": EFFECT},
        params={
            "n_users": n,
            "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
            "manipulation": manipulation,
            "fuzzy": fuzzy,
            "cutoff": CUTOFF,
            "treated_side": "below",
            "n_manipulated": int(moved.sum()),
        },
        description=threshold.__doc__ or "",
    )
