"""The shape every simulator scenario shares, and the registry that `simulate()` dispatches on.

A scenario is a function ``fn(*, n_users, seed, **switches) -> Simulation`` decorated with
:func:`scenario`. Its docstring documents the data-generating process, its truths and its switches;
``truelift.simulate.describe(name)`` returns that text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SCENARIOS", "Simulation", "scenario"]


@dataclass(frozen=True, repr=False)
class Simulation:
    """Simulated data with the true effects that generated it.

    Attributes:
        scenario: the scenario's name.
        data: a pandas DataFrame (one row per user, or per user-period for panels).
        truths: named true effects (floats), e.g. ``truths["agent_ate"]``.
        params: the resolved options (seed, size, switches).
        description: the scenario's data-generating process in words.
    """

    scenario: str
    data: pd.DataFrame
    truths: Mapping[str, float]
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __repr__(self) -> str:
        truths = ", ".join(f"{k}={v:.4g}" for k, v in list(self.truths.items())[:6])
        return (
            f"Simulation({self.scenario!r}, {len(self.data):,} rows x {self.data.shape[1]} "
            f"columns, truths: {truths}{', ...' if len(self.truths) > 6 else ''})"
        )


ScenarioFn = Callable[..., Simulation]
SCENARIOS: dict[str, ScenarioFn] = {}


def scenario(name: str) -> Callable[[ScenarioFn], ScenarioFn]:
    """Register ``fn`` as the scenario called ``name``."""

    def register(fn: ScenarioFn) -> ScenarioFn:
        if name in SCENARIOS:
            raise RuntimeError(f"scenario {name!r} registered twice")
        SCENARIOS[name] = fn
        return fn

    return register


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """The scenario's one random generator (``numpy.random.default_rng(seed)``)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
