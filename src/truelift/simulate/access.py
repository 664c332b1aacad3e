"""Scenario ``access``: randomized access to an AI feature, voluntary use (non-compliance, for IV).

A team randomizes who *can* use a new AI assistant (``access``); whether a user *does* use it
(``used_feature``) is their choice. Users who would use it when given access (compliers) differ
from those who never would (never-takers), and the effect differs by type and engagement tier, so
the complier effect (LATE) differs from the average effect over all users (ATE) and the naive
used-vs-not comparison is biased by selection (Angrist, Imbens & Rubin 1996).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from truelift.errors import DesignError
from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["access"]

TIERS = np.array(["light", "medium", "heavy"])
TIER_P = np.array([0.55, 0.30, 0.15])
BASE = np.array([5.0, 10.0, 20.0])  # weekly tasks completed without the feature, by tier
COMPLIER_P = np.array([0.30, 0.50, 0.70])  # P(complier | tier, not an always-taker)
ALWAYS_P = np.array([0.05, 0.10, 0.20])  # P(always-taker | tier) when always_takers=True
# effect of using the feature on weekly tasks, by type (rows: never, complier, always) and tier
EFFECT = np.array([[0.0, 0.5, 1.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
TYPE_SHIFT = np.array([-2.0, 0.0, 3.0])  # baseline selection: never-takers lower, always higher
P_ACCESS = 0.5
NOISE_SD = 3.0
WEAK_TARGET_F = 4.0  # expected first-stage F under weak=True
N_WORKSPACES = 200
WORKSPACE_SD = 2.0  # workspace shock to the outcome under randomize_by="workspace"


def _type_probs(always_takers: bool, weak: bool, n: int) -> np.ndarray:
    """P(type | tier): rows tiers, columns (never, complier, always)."""
    always = ALWAYS_P if always_takers else np.zeros(3)
    complier = COMPLIER_P * (1 - always)
    if weak:
        complier = complier * min(1.0, _weak_share(always, n) / float(TIER_P @ complier))
    return np.column_stack([1 - always - complier, complier, always])


def _weak_share(always: np.ndarray, n: int) -> float:
    """Overall complier share giving an expected first-stage F of about WEAK_TARGET_F.

    With access probability 1/2 and complier share c, F ~ n c^2 / 4 / (a(1-a) + c/2), where a is
    the always-taker share; solve n/4 c^2 - F c/2 - F a(1-a) = 0 for c.
    """
    a = float(TIER_P @ always)
    F = WEAK_TARGET_F
    return float((F / 2 + np.sqrt(F**2 / 4 + n * F * a * (1 - a))) / (n / 2))


def _truths(probs: np.ndarray) -> dict[str, float]:
    joint = TIER_P[:, None] * probs  # P(tier, type)
    eff = EFFECT.T  # tiers x types
    share = float(joint[:, 1].sum())
    late = float((joint[:, 1] * eff[:, 1]).sum() / share)
    return {
        "itt": late * share,
        "late": late,
        "complier_share": share,
        "ate": float((joint * eff).sum()),
        "always_taker_share": float(joint[:, 2].sum()),
        "never_taker_share": float(joint[:, 0].sum()),
    }


@scenario("access")
def access(
    *,
    n_users: int = 20_000,
    seed: int | np.random.Generator | None = 42,
    always_takers: bool = False,
    weak: bool = False,
    randomize_by: str = "user",
) -> Simulation:
    """Randomized access, voluntary use (default 20,000 users, seed 42).

    Data-generating process (one ``numpy.random.default_rng(seed)``, draws in this order):
    engagement tier (light/medium/heavy, p = .55/.30/.15); workspace 0-199; compliance type given
    tier (complier with p = .30/.50/.70, otherwise never-taker; with ``always_takers=True`` a share
    .05/.10/.20 are always-takers who get the feature without access, e.g. through a beta
    channel); pre-period tasks ``prior_tasks`` = base(tier) + N(0, 3) with base 5/10/20;
    ``access`` ~ Bernoulli(.5) (randomized); ``used_feature`` = complier and access, or
    always-taker; weekly ``tasks_completed`` = base(tier) + shift(type) + 0.5 (prior_tasks -
    base) + effect(type, tier) used_feature + N(0, 3), with shift never -2 / complier 0 /
    always +3 (selection into use) and effect (never, complier, always) = (0, .5, 1) /
    (1, 2, 3) / (2, 3, 4) for light / medium / heavy.

    Truths (population values, exact from the parameters): ``itt`` (effect of access on
    tasks_completed), ``late`` (effect of use among compliers), ``complier_share`` (first stage),
    ``ate`` (effect of use over all users; differs from the LATE), ``always_taker_share``,
    ``never_taker_share``.

    Switches: ``always_takers`` (two-sided non-compliance); ``weak`` (very low take-up: the
    complier share is scaled down, the same in every tier, so that the expected first-stage F is
    about 4 at this sample size; the instrument is weak and the LATE point estimate unreliable);
    ``randomize_by="workspace"`` (access is drawn per workspace, ``access`` = Bernoulli(.5) of
    the user's workspace, and a workspace shock N(0, 2) is added to ``tasks_completed`` after all
    other draws: users of one workspace share both, so standard errors must be clustered by
    ``workspace_id``; the truths are unchanged).
    """
    if randomize_by not in ("user", "workspace"):
        raise DesignError(f"randomize_by must be 'user' or 'workspace'; got {randomize_by!r}.")
    rng = as_generator(seed)
    n = n_users
    tier = rng.choice(3, size=n, p=TIER_P)
    workspace = rng.integers(0, N_WORKSPACES, size=n)
    probs = _type_probs(always_takers, weak, n)
    u = rng.random(n)
    cum = np.cumsum(probs[tier], axis=1)
    ctype = (u[:, None] >= cum[:, :2]).sum(axis=1)  # 0 never, 1 complier, 2 always
    prior = BASE[tier] + rng.normal(0, 3.0, size=n)
    by_ws = randomize_by == "workspace"
    z = rng.binomial(1, P_ACCESS, size=N_WORKSPACES)[workspace] if by_ws else None
    if z is None:
        z = rng.binomial(1, P_ACCESS, size=n)
    used = ((ctype == 1) & (z == 1)) | (ctype == 2)
    noise = rng.normal(0, NOISE_SD, size=n)
    y = (
        BASE[tier]
        + TYPE_SHIFT[ctype]
        + 0.5 * (prior - BASE[tier])
        + EFFECT[ctype, tier] * used
        + noise
    )
    if by_ws:
        y = y + rng.normal(0, WORKSPACE_SD, size=N_WORKSPACES)[workspace]
    data = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "workspace_id": workspace,
            "engagement_tier": TIERS[tier],
            "prior_tasks": np.round(prior, 3),
            "access": z,
            "used_feature": used.astype(np.int64),
            "tasks_completed": y,
        }
    )
    return Simulation(
        scenario="access",
        data=data,
        truths=_truths(probs),
        params={
            "n_users": n,
            "seed": seed,
            "always_takers": always_takers,
            "weak": weak,
            "randomize_by": randomize_by,
        },
        description=(access.__doc__ or "").strip(),
    )
