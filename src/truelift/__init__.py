"""truelift: what did your AI feature really do?

Causal inference for AI/LLM product features shipped through staged rollouts, opt-in toggles,
threshold routers and global launches. The public API is curated here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from truelift.errors import (
    ColumnNotFoundError,
    ConvergenceError,
    DataError,
    DesignError,
    DiagnosticWarning,
    IdentificationError,
    MissingDataWarning,
    MissingValueError,
    SeparationError,
    TrueliftError,
    TrueliftWarning,
)
from truelift.naive import naive_difference
from truelift.result import Diagnostic, Estimate, EstimateSet
from truelift.simulate import Simulation, simulate

try:
    __version__ = version("truelift")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ColumnNotFoundError",
    "ConvergenceError",
    "DataError",
    "DesignError",
    "Diagnostic",
    "DiagnosticWarning",
    "Estimate",
    "EstimateSet",
    "IdentificationError",
    "MissingDataWarning",
    "MissingValueError",
    "SeparationError",
    "Simulation",
    "TrueliftError",
    "TrueliftWarning",
    "__version__",
    "naive_difference",
    "simulate",
]
