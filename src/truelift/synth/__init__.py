"""Synthetic control designs for global launches: one treated unit, no holdout.

``synth(data, outcome=, unit=, time=, treatment= | treated_unit= + treatment_time=, method=)``
with ``method`` one of ``"sc"`` (Abadie, Diamond & Hainmueller 2010), ``"demeaned"`` (Ferman &
Pinto 2021), ``"sdid"`` (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021) and
``"augmented"`` (Ben-Michael, Feller & Rothstein 2021); placebo-in-space, placebo-in-time and
jackknife inference; pre-fit, convex-hull and weight-concentration diagnostics.
"""

from __future__ import annotations

from truelift.synth.estimator import synth

__all__ = ["synth"]
