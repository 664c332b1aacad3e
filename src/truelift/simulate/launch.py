"""Global launch: one product gets a model upgrade, a pool of other products does not.

Scenario ``"launch"`` (synthetic control, synthetic DiD). Products ``p00`` (treated, called the
flagship) and ``p01..pJ`` (donors) are observed weekly. Each product-week has ``m`` users
(``m = n_users // n_products``) whose task completions are binomial with probability

    p_it = clip(alpha_i + l1_i f1_t + l2_i f2_t + tau * launched_it, 0.01, 0.99)

* common factors: ``f1`` an AR(1) (rho 0.8, sd 0.02) shared trend, ``f2`` a seasonal wave with
  period 13 weeks (amplitude 0.03) plus AR(1) noise; they drive every product, with loadings
  ``l1, l2 ~ U(0.5, 1.5)`` for donors and levels ``alpha ~ U(0.45, 0.70)``;
* the flagship's level and loadings are a convex combination (Dirichlet weights on four donors) of
  the donors', so it lies inside the donors' convex hull and a synthetic control can reproduce it;
* the upgrade raises the probability by ``effect`` (default +0.03) in every post-launch week.

Switches:
* ``outside_hull=True``: the flagship's level is lifted 0.08 above the highest donor level, so its
  pre-launch path lies above every donor (plain SC cannot reach it; demeaned SC and SDID can);
* ``n_donors`` (30), ``n_pre`` (20), ``n_post`` (8), ``effect`` (0.03);
* ``rollout=True``: instead of the factor model, the staged-rollout user table (scenario
  ``"saas"``, same seed, ``n_users`` default 50,000) as a product panel: each workspace is a
  product (``w00..w49``), signup weeks 0-29, the 25 wave-1 workspaces launched from week 20 and the
  25 wave-2 workspaces (launched only at week 30) the donors. Cells are workspace-week means of
  ``task_completed``. Wave 1 sits 0.04 above wave 2 by construction, so its averaged path lies
  above every donor's at the tutorial seed 42: plain SC gives the tutorial's +0.083 and fails its
  convex-hull check, while the intercept-shifted methods target the truth ``rollout_att`` (+0.05).

Truths: ``launch_att``, the mean over post-launch weeks of the flagship's true change in completion
probability (clipping included). Columns: ``product, week, users, completions, task_completion``
(the weekly completion rate), ``launched`` (1 for the flagship from week ``n_pre`` on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["launch"]


def _factors(rng: np.random.Generator, T: int) -> np.ndarray:
    f = np.zeros((2, T))
    e = rng.normal(0.0, 0.02, size=(2, T))
    for t in range(1, T):
        f[:, t] = 0.8 * f[:, t - 1] + e[:, t]
    f[1] = 0.5 * f[1] + 0.03 * np.sin(2 * np.pi * np.arange(T) / 13)
    return f - f[:, :1]


@scenario("launch")
def launch(
    *,
    n_users: int | None = None,
    seed: int | np.random.Generator | None = 42,
    n_donors: int = 30,
    n_pre: int = 20,
    n_post: int = 8,
    effect: float = 0.03,
    outside_hull: bool = False,
    rollout: bool = False,
) -> Simulation:
    """One treated product, a donor pool with a two-factor structure (see the module docstring)."""
    if rollout:
        return _rollout(seed, 50_000 if n_users is None else int(n_users))
    rng = as_generator(seed)
    J, T = int(n_donors), int(n_pre) + int(n_post)
    if J < 2 or n_pre < 2 or n_post < 1:
        from truelift.errors import DesignError

        raise DesignError("launch needs n_donors >= 2, n_pre >= 2 and n_post >= 1.")
    alpha = rng.uniform(0.45, 0.70, size=J)
    load = rng.uniform(0.5, 1.5, size=(J, 2))
    f = _factors(rng, T)
    pick = rng.choice(J, size=min(4, J), replace=False)
    mix = rng.dirichlet(np.ones(pick.size))
    a1 = float(mix @ alpha[pick])
    l1 = mix @ load[pick]
    if outside_hull:
        a1 = float(alpha.max() + 0.08)
    levels = np.concatenate([[a1], alpha])
    loads = np.vstack([l1, load])
    base = levels[:, None] + loads @ f
    launched = np.zeros((J + 1, T))
    launched[0, n_pre:] = 1.0
    p0 = np.clip(base, 0.01, 0.99)
    p1 = np.clip(base + effect * launched, 0.01, 0.99)
    n_users = 62_000 if n_users is None else int(n_users)
    m = max(n_users // (J + 1), 1)
    completions = rng.binomial(m, p1)
    truth = float(np.mean(p1[0, n_pre:] - p0[0, n_pre:]))
    names = [f"p{i:02d}" for i in range(J + 1)]
    data = pd.DataFrame(
        {
            "product": np.repeat(names, T),
            "week": np.tile(np.arange(T), J + 1),
            "users": m,
            "completions": completions.ravel(),
            "task_completion": (completions / m).ravel(),
            "launched": launched.ravel().astype(np.int64),
        }
    )
    return Simulation(
        scenario="launch",
        data=data,
        truths={"launch_att": truth},
        params={
            "n_users": n_users,
            "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
            "n_donors": J,
            "n_pre": int(n_pre),
            "n_post": int(n_post),
            "effect": float(effect),
            "outside_hull": bool(outside_hull),
            "users_per_week": m,
            "treated_product": "p00",
        },
        description=__doc__ or "",
    )


def _rollout(seed: int | np.random.Generator | None, n_users: int) -> Simulation:
    """The staged-rollout table as a workspace x week panel (see ``rollout`` in the docstring)."""
    from truelift.simulate.saas import saas

    sim = saas(n_users=n_users, seed=seed)
    d = sim.data[sim.data["signup_week"] < 30]
    g = d.groupby(["workspace_id", "signup_week"], as_index=False).agg(
        users=("task_completed", "size"),
        completions=("task_completed", "sum"),
        task_completion=("task_completed", "mean"),
        launched=("treated_post", "max"),
    )
    data = pd.DataFrame(
        {
            "product": [f"w{int(w):02d}" for w in g["workspace_id"]],
            "week": g["signup_week"].to_numpy(),
            "users": g["users"].to_numpy(),
            "completions": g["completions"].to_numpy(),
            "task_completion": g["task_completion"].to_numpy(),
            "launched": g["launched"].to_numpy().astype(np.int64),
        }
    )
    return Simulation(
        scenario="launch",
        data=data,
        truths={"launch_att": float(sim.truths["rollout_att"])},
        params={
            "n_users": n_users,
            "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
            "rollout": True,
            "n_donors": 25,
            "n_pre": 20,
            "n_post": 10,
            "treated_products": [f"w{i:02d}" for i in range(25)],
        },
        description=__doc__ or "",
    )
