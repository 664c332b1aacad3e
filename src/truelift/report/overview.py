"""The demo's overview: every scenario through the advisor and ``analyze``, truth beside each answer.

Each case states how the feature reached users (the facts the advisor gets), the estimator's
columns, and the simulator's true effect. The failure cases flip one switch that breaks the
design's assumption; their headline must be downgraded or withheld, and the report shows how.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from truelift.advisor import RolloutFacts
from truelift.analysis import Analysis, analyze
from truelift.simulate import simulate

__all__ = ["CASES", "Case", "run_case", "run_cases"]


@dataclass(frozen=True)
class Case:
    """One question about one simulated rollout."""

    label: str
    how: str
    scenario: str
    facts: RolloutFacts
    kwargs: dict[str, Any]
    truth: str | None
    switches: dict[str, Any] = field(default_factory=dict)
    n_users: int | None = 20_000
    estimator: str | None = None
    breaks: str | None = None  # the diagnostic the switch is meant to fail
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None


def _saas_waves(d: pd.DataFrame) -> pd.DataFrame:
    """Wave 1 vs wave 2 before wave 2 starts: the 2x2 the staged rollout allows on the user table."""
    d = d[d["signup_week"] < 30].copy()
    d["post"] = (d["signup_week"] >= 20).astype(int)
    d["treated"] = (d["wave"] == 1).astype(int)
    return d


_PROMPT = {
    "outcome": "task_completed",
    "variant": "prompt_variant",
    "covariates": ["engagement_tier", "query_confidence"],
}
_AGENT = {
    "treatment": "opt_in_agent_mode",
    "outcome": "task_completed",
    "covariates": ["engagement_tier", "query_confidence"],
}
_ROUTER = {
    "outcome": "task_completed",
    "running": "query_confidence",
    "cutoff": 0.85,
    "treated_side": "below",
}
_OPTIN = {
    "treatment": "agent_mode",
    "outcome": "task_completed",
    "covariates": ["engagement_tier", "plan", "log_tenure", "prior_tasks"],
}
_PANEL = {"outcome": "tasks", "unit": "user_id", "time": "week", "cohort": "cohort"}
_LAUNCH = {"outcome": "task_completion", "unit": "product", "time": "week", "treatment": "launched"}
_ACCESS = {"outcome": "tasks_completed", "treatment": "used_feature", "instrument": "access"}

_RANDOM_USER = RolloutFacts(randomized=True, randomization_unit="user")
_OPT_IN = RolloutFacts(randomized=False, opt_in=True, selection_drivers_observed=True)
_THRESHOLD = RolloutFacts(randomized=False, threshold=True)
_WAVES = RolloutFacts(randomized=False, waves=True, never_treated_group=True, pre_period=True)
_LAUNCHED = RolloutFacts(
    randomized=False, single_treated_unit=True, donor_pool=True, pre_period=True
)
_VOLUNTARY = RolloutFacts(randomized=True, randomization_unit="user", voluntary_use=True)

CASES: tuple[Case, ...] = (
    Case(
        "new prompt",
        "randomized by user",
        "saas",
        _RANDOM_USER,
        _PROMPT,
        "prompt_ate",
        n_users=50_000,
    ),
    Case(
        "agent mode",
        "opt-in toggle",
        "saas",
        _OPT_IN,
        _AGENT,
        "agent_att",
        n_users=50_000,
    ),
    Case(
        "premium routing",
        "confidence < 0.85 goes to the premium model",
        "saas",
        _THRESHOLD,
        _ROUTER,
        "routing_effect_at_cutoff",
        n_users=50_000,
    ),
    Case(
        "staged rollout (user table)",
        "wave 1 from week 20, wave 2 from week 30",
        "saas",
        _WAVES,
        {"outcome": "task_completed", "treated": "treated", "post": "post"},
        "rollout_att",
        n_users=50_000,
        estimator="did_2x2",
        prepare=_saas_waves,
    ),
    Case(
        "staged rollout (user-week panel)",
        "cohorts switch on in different weeks, some never",
        "rollout",
        _WAVES,
        _PANEL,
        "att_simple",
        n_users=2_000,
    ),
    Case(
        "global launch",
        "one product upgraded, other products as donors",
        "launch",
        _LAUNCHED,
        _LAUNCH,
        "launch_att",
        n_users=None,
    ),
    Case(
        "assistant access",
        "access randomized, use voluntary",
        "access",
        _VOLUNTARY,
        _ACCESS,
        "late",
        switches={"always_takers": True},
    ),
    Case(
        "agent mode (opt-in scenario)",
        "opt-in toggle, drivers observed",
        "optin",
        _OPT_IN,
        _OPTIN,
        "agent_ate",
    ),
    Case(
        "premium routing (threshold scenario)",
        "score threshold",
        "threshold",
        _THRESHOLD,
        _ROUTER,
        "premium_effect_at_cutoff",
    ),
    Case(
        "global launch, no donors, no pre-period",
        "everyone at once, nothing to compare with",
        "launch",
        RolloutFacts(
            randomized=False, single_treated_unit=True, donor_pool=False, pre_period=False
        ),
        _LAUNCH,
        "launch_att",
        n_users=None,
    ),
)

FAILURES: tuple[Case, ...] = (
    Case(
        "experiment with lost logs",
        "randomized by user; 20% of failing treated users lost",
        "experiment",
        _RANDOM_USER,
        {"outcome": "task_completed", "variant": "variant"},
        "ate_task_completed",
        switches={"srm": True},
        breaks="sample ratio mismatch",
    ),
    Case(
        "opt-in without overlap",
        "heavy users almost all opt in",
        "optin",
        _OPT_IN,
        _OPTIN,
        "agent_ate",
        switches={"limited_overlap": True},
        estimator="ipw",
        breaks="overlap",
    ),
    Case(
        "router with gaming",
        "scores nudged below the cut-off",
        "threshold",
        _THRESHOLD,
        _ROUTER,
        "premium_effect_at_cutoff",
        switches={"manipulation": True},
        breaks="density test",
    ),
    Case(
        "rollout to improving cohorts",
        "early cohorts were already trending up",
        "rollout",
        _WAVES,
        _PANEL,
        "att_simple",
        n_users=2_000,
        switches={"pretrend": True},
        estimator="event_study",
        breaks="pre-trends",
    ),
    Case(
        "launch on the top product",
        "treated product above every donor",
        "launch",
        _LAUNCHED,
        {**_LAUNCH, "method": "sc"},
        "launch_att",
        n_users=None,
        switches={"outside_hull": True},
        breaks="convex hull",
    ),
    Case(
        "access that barely changes use",
        "randomized access, weak first stage",
        "access",
        _VOLUNTARY,
        _ACCESS,
        "late",
        switches={"always_takers": True, "weak": True},
        breaks="instrument strength",
    ),
)


def run_case(case: Case, *, seed: int) -> Analysis:
    """Simulate the case's scenario and analyse it through the advisor, truth beside."""
    size = {} if case.n_users is None else {"n_users": case.n_users}
    sim = simulate(case.scenario, seed=seed, **size, **case.switches)
    data = sim.data if case.prepare is None else case.prepare(sim.data)
    truth = None if case.truth is None else float(sim.truths[case.truth])
    return analyze(
        data,
        facts=case.facts,
        estimator=case.estimator,
        question=f"What did {case.label} do? ({case.how}; scenario {case.scenario!r})",
        truth=truth,
        **case.kwargs,
    )


def run_cases(
    cases: tuple[Case, ...], *, seed: int, progress: Callable[[str], None] | None = None
) -> list[Analysis]:
    """Run every case in order, calling ``progress(label)`` before each."""
    out = []
    for case in cases:
        if progress is not None:
            progress(case.label)
        out.append(run_case(case, seed=seed))
    return out
