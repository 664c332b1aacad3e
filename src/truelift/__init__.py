"""truelift: what did your AI feature really do?

Causal inference for AI/LLM product features shipped through staged rollouts, opt-in toggles,
threshold routers and global launches. The public API is curated here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from truelift.advisor import Recommendation, RolloutFacts, detect_design, recommend
from truelift.analysis import Analysis, analyze
from truelift.did import bacon, did, did_2x2, event_study, twfe
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
from truelift.experiment import (
    PowerInputs,
    ab_test,
    peeking_simulation,
    power,
    power_inputs,
    sample_ratio_mismatch,
    sequential_test,
    switchback,
)
from truelift.iv import iv
from truelift.naive import naive_difference
from truelift.propensity import aipw, ipw, match, propensity_score
from truelift.rdd import density_test, rdd
from truelift.report.analysis import write_report
from truelift.result import Diagnostic, Estimate, EstimateSet
from truelift.sensitivity import e_value, robustness_value, rosenbaum_bounds, sensitivity
from truelift.simulate import Simulation, simulate
from truelift.synth import synth
from truelift.uplift import (
    auuc_score,
    evaluate_uplift,
    fit_uplift,
    heterogeneity_test,
    policy_value,
    qini_coefficient,
    qini_curve,
    targeting_rule,
    uplift_curve,
)

try:
    __version__ = version("truelift")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Analysis",
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
    "PowerInputs",
    "Recommendation",
    "RolloutFacts",
    "SeparationError",
    "Simulation",
    "TrueliftError",
    "TrueliftWarning",
    "__version__",
    "ab_test",
    "aipw",
    "analyze",
    "auuc_score",
    "bacon",
    "density_test",
    "detect_design",
    "did",
    "did_2x2",
    "e_value",
    "evaluate_uplift",
    "event_study",
    "fit_uplift",
    "heterogeneity_test",
    "ipw",
    "iv",
    "match",
    "naive_difference",
    "peeking_simulation",
    "policy_value",
    "power",
    "power_inputs",
    "propensity_score",
    "qini_coefficient",
    "qini_curve",
    "rdd",
    "recommend",
    "robustness_value",
    "rosenbaum_bounds",
    "sample_ratio_mismatch",
    "sensitivity",
    "sequential_test",
    "simulate",
    "switchback",
    "synth",
    "targeting_rule",
    "twfe",
    "uplift_curve",
    "write_report",
]
