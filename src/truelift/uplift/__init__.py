"""Uplift modelling and heterogeneous effects, evaluated honestly.

Who benefits from the feature? Cross-fitted meta-learners (S, T, X, DR, R; Künzel et al. 2019,
Kennedy 2023, Nie & Wager 2021), a calibration test of whether there is heterogeneity at all and
group average effects (Chernozhukov, Demirer, Duflo & Fernández-Val), Qini / uplift curves and
their coefficients on a randomized holdout or with IPW adjustment (Radcliffe 2007; the
scikit-uplift and causalml conventions), and the value of a targeting policy with its CI
(Athey & Wager 2021) with a cost-aware targeting rule.
"""

from __future__ import annotations

from truelift.uplift.evaluate import (
    auuc_score,
    evaluate_uplift,
    qini_coefficient,
    qini_curve,
    uplift_curve,
)
from truelift.uplift.heterogeneity import heterogeneity_test
from truelift.uplift.learners import LEARNERS, MetaLearner, fit_uplift
from truelift.uplift.policy import TargetingRule, policy_value, targeting_rule

__all__ = [
    "LEARNERS",
    "MetaLearner",
    "TargetingRule",
    "auuc_score",
    "evaluate_uplift",
    "fit_uplift",
    "heterogeneity_test",
    "policy_value",
    "qini_coefficient",
    "qini_curve",
    "targeting_rule",
    "uplift_curve",
]
