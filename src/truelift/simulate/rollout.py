"""Scenario ``rollout``: a user-week panel with a staggered feature rollout (several cohorts).

Built for difference-in-differences: two-way fixed effects is biased here because effects grow
with exposure and differ by cohort (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020),
while Callaway & Sant'Anna (2021) group-time ATTs are not. Truths follow Callaway & Sant'Anna's
definitions of ATT(g,t) and of the simple, dynamic (event-study), group and calendar aggregations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from truelift.errors import DesignError
from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["COHORTS", "rollout", "rollout_effect", "rollout_truths"]

N_WEEKS = 10
COHORTS = {4: 0.2, 6: 0.2, 8: 0.2}  # first treated week -> population share; rest never treated
NEVER_SHARE = 1.0 - sum(COHORTS.values())
COHORT_SCALE = {4: 1.25, 6: 1.0, 8: 0.75}  # earlier waves benefit more
EFFECT_LEVEL = 0.30  # tasks/week at the first treated week (before the cohort scale)
EFFECT_SLOPE = 0.15  # extra tasks/week per week of exposure
ANTICIPATION_SHARE = 0.5  # effect in each anticipated week, as a share of the week-0 effect
DEFAULT_PRETREND = 0.08  # tasks/week per week of extra trend of ever-treated users
TIERS = np.array(["light", "medium", "heavy"])


def rollout_effect(cohort: int, week: int, anticipation: int = 0) -> float:
    """True effect on ``tasks`` of cohort ``cohort`` in calendar week ``week`` (0 if none)."""
    e = week - cohort
    scale = COHORT_SCALE[cohort]
    if e >= 0:
        return scale * (EFFECT_LEVEL + EFFECT_SLOPE * e)
    if -anticipation <= e < 0:
        return scale * ANTICIPATION_SHARE * EFFECT_LEVEL
    return 0.0


def rollout_truths(
    cohorts: dict[int, float] | None = None, n_weeks: int = N_WEEKS, anticipation: int = 0
) -> dict[str, float]:
    """Every ATT(g,t) and Callaway–Sant'Anna aggregation implied by the population shares."""
    shares = cohorts or COHORTS
    weeks = range(1, n_weeks + 1)
    att = {(g, t): rollout_effect(g, t, anticipation) for g in shares for t in weeks}
    out: dict[str, float] = {f"att_g{g}_t{t}": v for (g, t), v in att.items()}
    post = [(g, t) for (g, t) in att if t >= g]
    out["att_simple"] = sum(att[c] * shares[c[0]] for c in post) / sum(shares[g] for g, _ in post)
    events = sorted({t - g for (g, t) in att})
    for e in events:
        cells = [(g, t) for (g, t) in att if t - g == e]
        w = sum(shares[g] for g, _ in cells)
        out[f"att_dynamic_e{e}"] = sum(att[c] * shares[c[0]] for c in cells) / w
    out["att_dynamic"] = float(np.mean([out[f"att_dynamic_e{e}"] for e in events if e >= 0]))
    total = sum(shares.values())
    for g in shares:
        out[f"att_group_g{g}"] = float(np.mean([att[(g, t)] for t in weeks if t >= g]))
    out["att_group"] = sum(out[f"att_group_g{g}"] * shares[g] / total for g in shares)
    cal = []
    for t in weeks:
        gs = [g for g in shares if g <= t]
        if gs:
            w = sum(shares[g] for g in gs)
            out[f"att_calendar_t{t}"] = sum(att[(g, t)] * shares[g] for g in gs) / w
            cal.append(out[f"att_calendar_t{t}"])
    out["att_calendar"] = float(np.mean(cal))
    return out


def _check(n_users: int, anticipation: int, pretrend: float) -> None:
    if n_users < 20:
        raise DesignError(f"rollout needs at least 20 users (got {n_users}).")
    if not 0 <= anticipation <= 2:
        raise DesignError(f"anticipation must be 0, 1 or 2 weeks; got {anticipation!r}.")
    if not np.isfinite(pretrend):
        raise DesignError(f"pretrend must be a finite number; got {pretrend!r}.")


@scenario("rollout")
def rollout(
    *,
    n_users: int = 2_000,
    seed: int | np.random.Generator | None = 42,
    anticipation: int = 0,
    pretrend: bool | float = False,
    n_workspaces: int = 100,
) -> Simulation:
    """A user-week panel: a feature reaches users in waves (weeks 4, 6, 8) and some never get it.

    Data (one row per user and week, weeks 1-10, balanced): ``user_id``, ``workspace_id``,
    ``tier`` (light/medium/heavy), ``week``, ``cohort`` (first treated week 4, 6 or 8; 0 = never
    treated), ``treated`` (1 from the cohort's week on), ``tasks`` (tasks completed that week).

    Data-generating process (one ``numpy.random.default_rng(seed)``): cohorts are assigned per user
    with population shares .2/.2/.2 and .4 never treated; early cohorts start from a higher level
    (+.6/+.3/+.1: selection in levels, which differencing removes). tasks = 5 + tier level (0/1/2) + user effect N(0, 1)
    + cohort level + workspace effect N(0, .5) + calendar shock (a seasonal bump and an onboarding
    redesign in week 5 that hit everyone) + effect + AR(1) noise (rho .5, sd 1).

    Effect (homogeneous within a cohort, so every truth is exact): at exposure e = week - cohort
    >= 0, scale_g * (0.30 + 0.15 e) with scale 1.25 / 1.0 / 0.75 for cohorts 4 / 6 / 8: effects
    grow with exposure and earlier waves gain more, the case where TWFE misleads.

    Switches:
        anticipation: 0 (default), 1 or 2: users react that many weeks before their cohort week
            (effect scale_g * 0.15 in each anticipated week; truths include those cells).
        pretrend: False (default), True (= 0.08) or a slope: ever-treated users follow an extra
            linear trend of that many tasks per week over the whole window (parallel trends fail;
            the true effect is unchanged, so DiD estimators are biased).
        n_workspaces: number of workspaces users belong to (default 100).

    Truths (Callaway & Sant'Anna 2021 definitions, population cohort shares as weights):
    ``att_g{g}_t{t}`` for every cohort g and week t; ``att_simple``; ``att_dynamic_e{e}`` for every
    event time e and ``att_dynamic`` (mean over e >= 0); ``att_group_g{g}`` and ``att_group``;
    ``att_calendar_t{t}`` and ``att_calendar``.
    """
    slope = DEFAULT_PRETREND if pretrend is True else float(pretrend)
    anticipation = int(anticipation)
    _check(n_users, anticipation, slope)
    rng = as_generator(seed)
    n, T = n_users, N_WEEKS
    groups = np.array([*COHORTS, 0])
    probs = np.array([*COHORTS.values(), NEVER_SHARE])
    cohort = groups[rng.choice(groups.size, size=n, p=probs)]
    tier_code = rng.choice(3, size=n, p=[0.55, 0.30, 0.15])
    workspace = rng.integers(0, n_workspaces, size=n)
    alpha = rng.normal(0, 1, size=n)
    ws_effect = rng.normal(0, 0.5, size=n_workspaces)
    shocks = rng.normal(0, 1, size=(n, T))
    noise = np.empty((n, T))
    noise[:, 0] = shocks[:, 0]
    for t in range(1, T):
        noise[:, t] = 0.5 * noise[:, t - 1] + np.sqrt(1 - 0.25) * shocks[:, t]

    weeks = np.arange(1, T + 1)
    calendar = 0.3 * np.sin(2 * np.pi * weeks / T) + 0.4 * (weeks >= 5)
    cohort_level = np.select([cohort == 4, cohort == 6, cohort == 8], [0.6, 0.3, 0.1], 0.0)
    level = 5.0 + tier_code + alpha + cohort_level + ws_effect[workspace]
    effect_table = {
        g: np.array([rollout_effect(g, int(t), anticipation) for t in weeks]) for g in COHORTS
    }
    effect = np.zeros((n, T))
    for g, row in effect_table.items():
        effect[cohort == g] = row
    trend = slope * (cohort > 0)[:, None] * (weeks - 1)[None, :]
    tasks = level[:, None] + calendar[None, :] + effect + trend + noise

    week_col = np.tile(weeks, n)
    cohort_col = np.repeat(cohort, T)
    data = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(n), T),
            "workspace_id": np.repeat(workspace, T),
            "tier": pd.Categorical.from_codes(np.repeat(tier_code, T), categories=pd.Index(TIERS)),
            "week": week_col,
            "cohort": cohort_col,
            "treated": ((cohort_col > 0) & (week_col >= cohort_col)).astype(np.int64),
            "tasks": tasks.ravel(),
        }
    )
    params: dict[str, Any] = {
        "n_users": n,
        "seed": seed if not isinstance(seed, np.random.Generator) else None,
        "anticipation": anticipation,
        "pretrend": slope,
        "n_workspaces": n_workspaces,
        "n_weeks": T,
        "cohorts": dict(COHORTS),
    }
    return Simulation(
        scenario="rollout",
        data=data,
        truths=rollout_truths(COHORTS, T, anticipation),
        params=params,
        description=(rollout.__doc__ or "").strip(),
    )
