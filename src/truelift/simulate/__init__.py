"""Simulated AI-product data with known true effects.

``simulate(scenario="saas", n_users=50_000, seed=42)`` returns a :class:`Simulation` with
``.data`` (a pandas DataFrame) and ``.truths`` (named true effects). Every scenario lives in its
own module of this package, registered with ``@scenario("name")``, and documents its
data-generating process, truths and switches in its docstring (``describe(name)``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import numpy as np

from truelift.errors import DesignError
from truelift.simulate._base import SCENARIOS, Simulation, scenario

__all__ = ["SCENARIOS", "Simulation", "describe", "scenario", "scenarios", "simulate"]

for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")


def scenarios() -> list[str]:
    """Names of the available scenarios."""
    return sorted(SCENARIOS)


def _lookup(name: str) -> Any:
    if name not in SCENARIOS:
        raise DesignError(f"unknown scenario {name!r}; available: {', '.join(scenarios())}.")
    return SCENARIOS[name]


def describe(name: str) -> str:
    """The data-generating process, truths and switches of scenario ``name``."""
    return inspect.cleandoc(_lookup(name).__doc__ or "")


def simulate(
    scenario: str = "saas",
    *,
    n_users: int | None = None,
    seed: int | np.random.Generator | None = 42,
    **switches: Any,
) -> Simulation:
    """Simulate scenario ``scenario`` and return its data with the true effects.

    Args:
        scenario: one of :func:`scenarios` (``"saas"`` is the 16-column user table).
        n_users: number of users (units); ``None`` uses the scenario's default.
        seed: seed of the scenario's single ``numpy.random.default_rng``.
        **switches: scenario-specific options (see ``describe(scenario)``).
    """
    fn = _lookup(scenario)
    allowed = [p for p in inspect.signature(fn).parameters if p not in ("n_users", "seed")]
    unknown = sorted(set(switches) - set(allowed))
    if unknown:
        raise DesignError(
            f"scenario {scenario!r} has no option(s) {unknown}; its options are {allowed}."
        )
    kwargs: dict[str, Any] = dict(switches, seed=seed)
    if n_users is not None:
        if int(n_users) < 1:
            raise DesignError(f"n_users must be a positive integer; got {n_users}.")
        kwargs["n_users"] = int(n_users)
    return fn(**kwargs)
