"""Scenario ``saas``: the 16-column AI-assisted SaaS user table used across this field's tutorials.

Reproduces the published table bit for bit (see docs/simulator.md): one row per user, four known
effects on ``task_completed``: new prompt +4 pp (randomized by user id parity), agent-mode opt-in
+8 pp (self-selected, heavy users opt in most), premium routing below query confidence 0.85 +6 pp
(threshold), staged rollout +5 pp (wave 1 workspaces from week 20, wave 2 from week 30).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["saas"]

TIERS = np.array(["light", "medium", "heavy"])
BASE_P = {"light": 0.35, "medium": 0.55, "heavy": 0.70}
OPT_IN_P = {"light": 0.12, "medium": 0.35, "heavy": 0.65}
ROUTING_CUTOFF = 0.85
EFFECTS = {"prompt": 0.04, "agent": 0.08, "routing": 0.06, "rollout": 0.05}


def _clip(p: np.ndarray) -> np.ndarray:
    return np.clip(p, 0.01, 0.99)


@scenario("saas")
def saas(*, n_users: int = 50_000, seed: int | np.random.Generator | None = 42) -> Simulation:
    """The compatible user table (one row per user, 16 columns; default 50,000 users, seed 42).

    Data-generating process (one ``numpy.random.default_rng(seed)``, draws in this order):
    engagement tier (light/medium/heavy with p = .55/.30/.15); workspace 0-49; signup week 0-51;
    query confidence ~ Beta(5, 2); agent-mode opt-in ~ Bernoulli(.12/.35/.65 by tier); a weekly
    AR(1) signal (phi = .75, sd .01, centred); individual noise N(0, .015); then task completion,
    thumbs-up, session minutes and 7-day retention. ``wave`` = 1 for workspaces 0-24 (treated from
    week 20) and 2 otherwise (week 30); ``prompt_variant`` = user_id % 2; ``routed_to_premium`` =
    confidence < 0.85.

    p_task = clip(base(tier) + .04 [wave 1] + .04 prompt + .08 opt-in + .06 routed + .05 treated_post
    + ar[signup_week] + eps, .01, .99), base = .35/.55/.70.

    Truths (expected effects from the latent probabilities, clipping included):
    ``prompt_ate``, ``agent_ate``, ``agent_att``, ``agent_ate_<tier>``, ``routing_effect_at_cutoff``
    (users within 0.05 of the cut-off), ``rollout_att`` (treated-post users), and the agent-mode
    effects on the other outcomes ``agent_ate_thumbs_up``, ``agent_ate_retained_7d``,
    ``agent_ate_session_minutes``, ``agent_ate_cost_usd``, plus ``routing_effect_cost_usd``.
    No switches: every assumption holds in this table by construction.
    """
    rng = as_generator(seed)
    n = n_users
    tier_code = rng.choice(3, size=n, p=[0.55, 0.30, 0.15])  # same draws as choice over TIERS
    tier = TIERS[tier_code]
    workspace = rng.integers(0, 50, size=n)
    signup_week = rng.integers(0, 52, size=n)
    confidence = rng.beta(5, 2, size=n)
    heavy, light = tier_code == 2, tier_code == 0
    medium = ~(heavy | light)
    p_opt = np.where(
        heavy, OPT_IN_P["heavy"], np.where(medium, OPT_IN_P["medium"], OPT_IN_P["light"])
    )
    opt_in = rng.binomial(1, p_opt)
    ar = np.zeros(52)
    for t in range(1, 52):
        ar[t] = 0.75 * ar[t - 1] + rng.normal(0, 0.010)
    ar -= ar.mean()
    eps = rng.normal(0, 0.015, size=n)

    user_id = np.arange(n)
    wave = np.where(workspace < 25, 1, 2)
    treatment_week = np.where(wave == 1, 20, 30)
    treated_post = (signup_week >= treatment_week).astype(np.int64)
    prompt = user_id % 2
    routed = (confidence < ROUTING_CUTOFF).astype(np.int64)
    base = np.where(heavy, BASE_P["heavy"], np.where(medium, BASE_P["medium"], BASE_P["light"]))
    latent = base + 0.04 * (wave == 1) + ar[signup_week] + eps

    def p_task_of(
        prompt_: np.ndarray | int,
        opt_: np.ndarray | int,
        routed_: np.ndarray | int,
        post_: np.ndarray | int,
    ) -> np.ndarray:
        return _clip(
            latent
            + EFFECTS["prompt"] * prompt_
            + EFFECTS["agent"] * opt_
            + EFFECTS["routing"] * routed_
            + EFFECTS["rollout"] * post_
        )

    p_task = p_task_of(prompt, opt_in, routed, treated_post)
    task = rng.binomial(1, p_task)
    thumbs_noise = rng.normal(0, 0.05, size=n)

    def p_thumbs_of(p: np.ndarray) -> np.ndarray:
        return _clip(0.2 + 0.6 * p + thumbs_noise)

    thumbs = rng.binomial(1, p_thumbs_of(p_task))
    session_noise = rng.normal(0, 1.5, size=n)

    def session_of(opt_: np.ndarray | int) -> np.ndarray:
        return np.maximum(0.5, 5 + 3 * heavy + 2 * opt_ + session_noise)

    session = session_of(opt_in)
    ret_noise = rng.normal(0, 0.05, size=n)

    def p_ret_of(p: np.ndarray, thumbs_: np.ndarray | float) -> np.ndarray:
        return _clip(0.4 + 0.35 * p + 0.1 * thumbs_ - 0.05 * light + ret_noise)

    retained = rng.binomial(1, p_ret_of(p_task, thumbs))

    def cost_of(
        session_: np.ndarray, opt_: np.ndarray | int, routed_: np.ndarray | int
    ) -> np.ndarray:
        return 0.002 * session_ + 0.015 * opt_ + 0.008 * routed_

    data = pd.DataFrame(
        {
            "user_id": user_id,
            "workspace_id": workspace,
            "engagement_tier": pd.Categorical.from_codes(tier_code, categories=pd.Index(TIERS)),
            "signup_week": signup_week,
            "wave": wave,
            "treatment_week": treatment_week,
            "treated_post": treated_post,
            "prompt_variant": prompt,
            "opt_in_agent_mode": opt_in,
            "query_confidence": np.round(confidence, 4),
            "routed_to_premium": routed,
            "task_completed": task,
            "thumbs_up": thumbs,
            "session_minutes": np.round(session, 2),
            "cost_usd": np.round(cost_of(session, opt_in, routed), 4),
            "retained_7d": retained,
        },
        copy=False,
    )

    # truths: expected outcomes under each arm from the latent probabilities (clipping included)
    p1 = p_task_of(prompt, 1, routed, treated_post)
    p0 = p_task_of(prompt, 0, routed, treated_post)

    def expected_retention(p: np.ndarray) -> np.ndarray:
        q = p_thumbs_of(p)
        return q * p_ret_of(p, 1.0) + (1 - q) * p_ret_of(p, 0.0)

    near = np.abs(confidence - ROUTING_CUTOFF) < 0.05
    r1 = p_task_of(prompt, opt_in, 1, treated_post)
    r0 = p_task_of(prompt, opt_in, 0, treated_post)
    post = treated_post == 1
    truths = {
        "prompt_ate": float(
            np.mean(
                p_task_of(1, opt_in, routed, treated_post)
                - p_task_of(0, opt_in, routed, treated_post)
            )
        ),
        "agent_ate": float(np.mean(p1 - p0)),
        "agent_att": float(np.mean((p1 - p0)[opt_in == 1])),
        **{f"agent_ate_{t}": float(np.mean((p1 - p0)[tier == t])) for t in TIERS},
        "routing_effect_at_cutoff": float(np.mean((r1 - r0)[near])),
        "rollout_att": float(
            np.mean(
                p_task_of(prompt, opt_in, routed, 1)[post]
                - p_task_of(prompt, opt_in, routed, 0)[post]
            )
        ),
        "agent_ate_thumbs_up": float(np.mean(p_thumbs_of(p1) - p_thumbs_of(p0))),
        "agent_ate_retained_7d": float(np.mean(expected_retention(p1) - expected_retention(p0))),
        "agent_ate_session_minutes": float(np.mean(session_of(1) - session_of(0))),
        "agent_ate_cost_usd": float(
            np.mean(cost_of(session_of(1), 1, routed) - cost_of(session_of(0), 0, routed))
        ),
        "routing_effect_cost_usd": 0.008,
    }
    return Simulation(
        scenario="saas",
        data=data,
        truths=truths,
        params={"n_users": n, "seed": seed if not isinstance(seed, np.random.Generator) else None},
        description=(saas.__doc__ or "").strip(),
    )
