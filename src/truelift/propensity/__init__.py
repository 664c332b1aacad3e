"""Propensity-score designs for self-selected (opt-in) features.

Estimate the effect of a feature users chose to turn on by comparing like with like: model the
probability of opting in from observed covariates (Rosenbaum & Rubin 1983), then weight
(:func:`ipw`; Hájek weights, Lunceford & Davidian 2004; overlap weights, Li, Morgan & Zaslavsky
2018), combine weighting with outcome models (:func:`aipw`; Robins, Rotnitzky & Zhao 1994;
Chernozhukov et al. 2018) or match (:func:`match`; Abadie & Imbens 2006, 2011). Every estimate
carries overlap, balance and model-fit diagnostics with verdicts; a positivity failure withholds
the ATE and names the estimand that is identified. Sensitivity to unobserved confounding lives in
:mod:`truelift.sensitivity`.
"""

from __future__ import annotations

from truelift.propensity.matching import match
from truelift.propensity.score import PropensityScore, propensity_score
from truelift.propensity.weighting import aipw, ipw

__all__ = ["PropensityScore", "aipw", "ipw", "match", "propensity_score"]
