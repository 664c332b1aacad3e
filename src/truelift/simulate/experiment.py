"""Scenario ``experiment``: a randomized test of an AI feature, with everything that goes wrong.

One row per user (in arrival order), with a pre-period metric for CUPED, ratio metrics (tasks per
session, tokens per session), heavy-tailed cost and latency, and switches for a sample-ratio
mismatch, cluster randomization by workspace with spillover, and switchback by time slot with
carryover. See :func:`experiment` for the data-generating process and the truths.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from truelift.errors import DesignError
from truelift.simulate._base import Simulation, as_generator, scenario

__all__ = ["experiment"]

N_WORKSPACES = 200
TIERS = np.array(["light", "medium", "heavy"])
EFFECTS = {
    "task_completed": 0.03,  # on the completion probability (direct effect)
    "active_minutes": 1.0,  # additive, minutes
    "task_rate": 0.04,  # on each session's success probability
    "token_factor": -0.05,  # tokens per session -5 %
    "latency_ms": 60.0,  # the new prompt is longer
}
TOKEN_PRICE = 2e-6  # USD per token
BASE_TOKENS = 800.0


def _clip(p: np.ndarray) -> np.ndarray:
    return np.clip(p, 0.01, 0.99)


def _assign(
    rng: np.random.Generator,
    mode: str,
    n: int,
    workspace: np.ndarray,
    slot: np.ndarray,
    n_slots: int,
) -> np.ndarray:
    if mode == "user":
        return rng.integers(0, 2, size=n)
    if mode == "workspace":
        return rng.integers(0, 2, size=N_WORKSPACES)[workspace]
    return rng.integers(0, 2, size=n_slots)[slot]


def _validate(
    randomization: str, spillover: float, carryover: float, srm: Any, n_slots: int
) -> float:
    if randomization not in ("user", "workspace", "switchback"):
        raise DesignError(
            f"randomization must be 'user', 'workspace' or 'switchback'; got {randomization!r}."
        )
    if not 0 <= spillover <= 0.2 or not 0 <= carryover <= 2:
        raise DesignError("spillover must lie in [0, 0.2] and carryover in [0, 2].")
    if n_slots < 20:
        raise DesignError(f"n_slots must be at least 20; got {n_slots}.")
    loss = 0.2 if srm is True else float(srm or 0.0)
    if not 0 <= loss < 1:
        raise DesignError(f"srm must be a bool or a loss rate in [0, 1); got {srm!r}.")
    return loss


@scenario("experiment")
def experiment(
    *,
    n_users: int = 20_000,
    seed: int | np.random.Generator | None = 42,
    randomization: Literal["user", "workspace", "switchback"] = "user",
    srm: bool | float = False,
    spillover: float = 0.0,
    carryover: float = 0.0,
    n_slots: int = 336,
) -> Simulation:
    """A randomized test of a new assistant prompt (default 20,000 users, seed 42).

    Data-generating process. Each user has a latent activity ``u ~ N(0, 1)`` (tier: light below
    -0.3, heavy above 1.0), a workspace (200, sizes lognormal), a workspace effect
    ``a_w ~ N(0, 0.05)`` and an arrival time over ``n_slots`` hourly slots (rows are in arrival
    order; ``time_slot`` is the hour). With ``W`` the user's arm:

    * ``pre_active_minutes = exp(2.5 + 0.5 u + N(0, .3))`` (pre-period, for CUPED);
      ``active_minutes = exp(2.5 + 0.5 u + N(0, .3)) + 1.0 W``;
    * ``task_completed ~ Bernoulli(clip(.45 + .1 u + a_w + .03 W + spillover * s + time, .01, .99))``
      where ``s`` is the share of treated users in the workspace (``randomization="user"``/
      ``"workspace"``) and ``time`` is the slot's shared state (switchback only);
    * ``sessions = 1 + Poisson(exp(1 + .4 u))``; ``tasks_completed ~ Binomial(sessions,
      clip(.5 + .08 u + .04 W))`` (ratio metric tasks per session);
    * ``tokens = round(sessions * 800 * exp(.3 u + N(0, 1) - .5) * (1 - .05 W))`` (heavy-tailed;
      ratio metric tokens per session); ``cost_usd = 2e-6 * tokens``;
    * ``latency_ms = exp(N(6.2 + .1 u, .9)) + 60 W`` (heavy-tailed).

    Switches:
    * ``randomization``: ``"user"`` (default), ``"workspace"`` (whole workspaces; analyse with
      ``cluster="workspace_id"``) or ``"switchback"`` (each hourly slot is one arm; the slots share
      an AR(1) state with a daily cycle, and ``carryover`` adds ``carryover * .03 * W_{t-1}`` to the
      completion probability: the previous slot's arm still matters);
    * ``spillover``: treated colleagues raise a user's completion probability by
      ``spillover * share treated in the workspace``; under user randomization both arms get it,
      so the difference in means misses it;
    * ``srm``: ``True`` (= 0.2) or a rate: that share of the treated users who did not complete a task
      is lost from the logs (a sample-ratio mismatch that biases the readout upwards).

    Truths (expected values from the latent probabilities, over the simulated population before
    any logging loss): ``ate_task_completed`` (launching to everyone: direct + spillover, or
    direct + carryover for sustained exposure in a switchback), ``direct_task_completed``,
    ``lift_task_completed`` (relative), ``ate_active_minutes``, ``ate_tasks_per_session`` and
    ``ate_tokens_per_session`` (differences of ratios of expected totals), ``ate_cost_usd``,
    ``ate_latency_ms``.
    """
    loss = _validate(randomization, spillover, carryover, srm, n_slots)
    rng = as_generator(seed)
    n = int(n_users)
    u = rng.normal(size=n)
    ws_p = rng.lognormal(0, 0.7, size=N_WORKSPACES)
    workspace = rng.choice(N_WORKSPACES, size=n, p=ws_p / ws_p.sum())
    a_w = rng.normal(0, 0.05, size=N_WORKSPACES)
    arrival = np.sort(rng.uniform(0, n_slots, size=n))
    slot = np.floor(arrival).astype(np.int64)
    W = _assign(rng, randomization, n, workspace, slot, n_slots)
    share = np.bincount(workspace, weights=W, minlength=N_WORKSPACES) / np.maximum(
        np.bincount(workspace, minlength=N_WORKSPACES), 1
    )
    time_state = _time_state(rng, n_slots)
    lag_w = _lagged_slot_arm(W, slot, n_slots) if randomization == "switchback" else 0.0
    base = (
        0.45 + 0.1 * u + a_w[workspace] + (time_state[slot] if randomization == "switchback" else 0)
    )
    kappa = carryover * EFFECTS["task_completed"]

    def p_task(w: Any, s: Any, lag: Any) -> np.ndarray:
        return _clip(base + EFFECTS["task_completed"] * w + spillover * s + kappa * lag)

    cols = _draw_outcomes(rng, u, W, p_task(W, share[workspace], lag_w))
    data = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "workspace_id": workspace,
            "engagement_tier": TIERS[np.where(u < -0.3, 0, np.where(u > 1.0, 2, 1))],
            "time_slot": slot,
            "variant": W,
            **cols,
        }
    )
    truths = _truths(u, p_task, cols["_lam"], randomization)
    data = data.drop(columns=["_lam"])
    if loss > 0:
        lost = (W == 1) & (data["task_completed"].to_numpy() == 0) & (rng.random(n) < loss)
        data = data.loc[~lost].reset_index(drop=True)
    return Simulation(
        scenario="experiment",
        data=data,
        truths=truths,
        params={
            "n_users": n,
            "seed": seed if not isinstance(seed, np.random.Generator) else None,
            "randomization": randomization,
            "srm": loss,
            "spillover": spillover,
            "carryover": carryover,
            "n_slots": n_slots,
        },
        description=(experiment.__doc__ or "").strip(),
    )


def _time_state(rng: np.random.Generator, n_slots: int) -> np.ndarray:
    e = rng.normal(0, 0.02, size=n_slots)
    ar = np.zeros(n_slots)
    for t in range(1, n_slots):
        ar[t] = 0.7 * ar[t - 1] + e[t]
    return ar + 0.03 * np.sin(2 * np.pi * np.arange(n_slots) / 24)


def _lagged_slot_arm(W: np.ndarray, slot: np.ndarray, n_slots: int) -> np.ndarray:
    arm = np.zeros(n_slots)
    arm[slot] = W
    lag = np.r_[0.0, arm[:-1]]
    return lag[slot]


def _draw_outcomes(
    rng: np.random.Generator, u: np.ndarray, W: np.ndarray, p_task: np.ndarray
) -> dict[str, np.ndarray]:
    n = u.size
    pre = np.exp(2.5 + 0.5 * u + rng.normal(0, 0.3, size=n))
    post = np.exp(2.5 + 0.5 * u + rng.normal(0, 0.3, size=n)) + EFFECTS["active_minutes"] * W
    task = rng.binomial(1, p_task)
    lam = np.exp(1.0 + 0.4 * u)
    sessions = 1 + rng.poisson(lam)
    tasks = rng.binomial(sessions, _clip(0.5 + 0.08 * u + EFFECTS["task_rate"] * W))
    tok_mult = np.exp(0.3 * u + rng.normal(0, 1.0, size=n) - 0.5)
    tokens = np.round(sessions * BASE_TOKENS * tok_mult * (1 + EFFECTS["token_factor"] * W))
    latency = np.exp(rng.normal(6.2 + 0.1 * u, 0.9)) + EFFECTS["latency_ms"] * W
    return {
        "pre_active_minutes": np.round(pre, 3),
        "active_minutes": np.round(post, 3),
        "task_completed": task,
        "sessions": sessions,
        "tasks_completed": tasks,
        "tokens": tokens.astype(np.int64),
        "cost_usd": np.round(tokens * TOKEN_PRICE, 6),
        "latency_ms": np.round(latency, 1),
        "_lam": lam,
    }


def _truths(u: np.ndarray, p_task: Any, lam: np.ndarray, randomization: str) -> dict[str, float]:
    one, zero = np.ones_like(u), np.zeros_like(u)
    carry = one if randomization == "switchback" else zero
    total = float(np.mean(p_task(one, one, carry) - p_task(zero, zero, zero)))
    direct = float(np.mean(p_task(one, zero, zero) - p_task(zero, zero, zero)))
    es = 1 + lam
    q1 = _clip(0.5 + 0.08 * u + EFFECTS["task_rate"])
    q0 = _clip(0.5 + 0.08 * u)
    tok0 = es * BASE_TOKENS * np.exp(0.3 * u)
    return {
        "ate_task_completed": total,
        "direct_task_completed": direct,
        "lift_task_completed": total / float(np.mean(p_task(zero, zero, zero))),
        "ate_active_minutes": EFFECTS["active_minutes"],
        "ate_tasks_per_session": float((es * (q1 - q0)).sum() / es.sum()),
        "ate_tokens_per_session": float(EFFECTS["token_factor"] * tok0.sum() / es.sum()),
        "ate_cost_usd": float(EFFECTS["token_factor"] * TOKEN_PRICE * tok0.mean()),
        "ate_latency_ms": EFFECTS["latency_ms"],
    }
