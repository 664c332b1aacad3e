"""Plots: pure functions of results (they never compute a statistic).

``plot_result(result)`` dispatches on ``result.params["design"]`` to ``truelift.plot.<design>.plot``
when that module exists, and otherwise draws the generic estimate-and-interval chart of
:mod:`truelift.plot._forest`. Figures use matplotlib's object API (no pyplot state), so they
render under any backend.
"""

from __future__ import annotations

import importlib
from typing import Any

from truelift.plot._forest import forest

__all__ = ["forest", "plot_result"]


def plot_result(result: Any, **kwargs: Any) -> Any:
    """A matplotlib Figure for any truelift result."""
    design = str(result.params.get("design", ""))
    if design.isidentifier():
        try:
            module = importlib.import_module(f"truelift.plot.{design}")
        except ModuleNotFoundError:
            module = None
        if module is not None and hasattr(module, "plot"):
            return module.plot(result, **kwargs)
    return forest(result, **kwargs)
