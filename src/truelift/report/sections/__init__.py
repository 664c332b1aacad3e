"""Demo-report sections, one module per design.

Each module defines ``TITLE`` (str), ``ORDER`` (int, position in the report) and
``section(report: HtmlReport, *, seed: int) -> None``, which adds its ``TITLE`` heading, simulates its scenario(s), runs the
design's estimators with their diagnostics, and adds headline, truth, diagnostics and plots to the
report. ``all_sections()`` discovers them; the demo runs every one.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["all_sections"]


def all_sections() -> list[ModuleType]:
    """Every section module, in report order."""
    mods = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_")
    ]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))
