"""The value of a targeting policy, with its CI, and a cost-aware targeting rule.

A policy pi(x) in {0, 1} says who gets the feature. Its value is V(pi) = E[v Y(pi(X)) - c pi(X)]:
the outcome it produces (worth ``value`` per unit) net of the feature's cost ``c`` per treated user.
Estimated with doubly robust scores (Robins, Rotnitzky & Zhao 1994; Dudík, Langford & Li 2011;
Athey & Wager 2021, "Policy learning with observational data"):
V_hat = mean(v [pi Gamma1 + (1 - pi) Gamma0] - c pi), with Gamma_a the AIPW score of Y(a). With a
known propensity and no covariates the outcome models are the arm means (an augmented IPW that
equals the Hájek estimator to first order); with covariates they are cross-fitted gradient-boosting
models. The influence function is the summand itself, so the SE is its standard deviation / sqrt(n)
(the policy is treated as fixed: evaluate a learned policy on users it was not learned from, as
:func:`targeting_rule` does with out-of-fold decisions).

:func:`targeting_rule` learns a rule "treat when value x predicted CATE > cost" with a cross-fitted
meta-learner and exports it (who should get the feature, the expected lift, the threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truelift import _frame
from truelift.engines import lazy_frame
from truelift.errors import DataError, DesignError
from truelift.inference import if_se, interval
from truelift.result import Diagnostic, Estimate, EstimateSet, jsonable
from truelift.uplift._rows import engine_label, gather, with_record
from truelift.uplift.learners import (
    LEARNERS,
    Learner,
    MetaLearner,
    Nuisance,
    Rng,
    as_rng,
    check_option,
    known_propensity,
    propensity_role,
)

__all__ = ["TargetingRule", "policy_value", "policy_value_kernel", "targeting_rule"]


def policy_value_kernel(
    pi: np.ndarray, g1: np.ndarray, g0: np.ndarray, cost: np.ndarray, value: float
) -> np.ndarray:
    """Per-user contributions (= influence values + mean) of the policy value."""
    return value * (pi * g1 + (1 - pi) * g0) - cost * pi


def _nuisance(
    cols: _frame.Columns, known: Any, seed: int, model: Any, n_folds: int
) -> tuple[Nuisance, str]:
    t, y = cols["treatment"], cols["outcome"]
    if cols.X.shape[1] == 0:
        if known is None:
            raise DesignError(
                "policy_value needs either a known propensity (propensity=, randomized data) or "
                "covariates= to adjust for (observational data)."
            )
        e = np.broadcast_to(np.asarray(known, float), t.shape).copy()
        w1, w0 = t / e, (1 - t) / (1 - e)
        m1, m0 = (w1 * y).sum() / w1.sum(), (w0 * y).sum() / w0.sum()
        return Nuisance(np.full(t.size, m0), np.full(t.size, m1), e), "augmented IPW (arm means)"
    ml = MetaLearner("t", model, None, None, n_folds, random_state=seed)
    ml.fit(cols.X, t, y, propensity=known)
    how = "AIPW, cross-fitted outcome models" + (
        ", known propensity" if known is not None else ", cross-fitted logistic propensity"
    )
    return ml.nuisance_, how


def _cost(cols: _frame.Columns, cost: float | str | None) -> np.ndarray:
    if cost is None:
        return np.zeros(cols.n_obs)
    if isinstance(cost, str):
        return cols["cost"]
    if not np.isfinite(cost):
        raise DesignError(f"cost must be a finite number or a column name; got {cost!r}.")
    return np.full(cols.n_obs, float(cost))


def policy_value(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    policy: str,
    propensity: float | str | None = None,
    covariates: Sequence[str] | None = None,
    cost: float | str | None = None,
    value: float = 1.0,
    model: Any = None,
    n_folds: int = 5,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
    rng: Rng = None,
    sample: float | int | None = None,
) -> EstimateSet:
    """Value of the targeting policy in column ``policy`` (1 = give the feature), with CIs.

    Args:
        data: one row per user (a randomized holdout, or observational data with covariates).
        treatment, outcome: the binary treatment actually received and the numeric outcome.
        policy: a 0/1 column: whom the policy would treat.
        propensity: known assignment probability (float) or propensity column.
        covariates: confounders / predictors for cross-fitted AIPW outcome (and propensity) models.
        cost: the feature's cost per treated user (a number or a column), in the units of
            ``value * outcome``. ``value``: worth of one unit of outcome.
        sample: ``None`` (all rows) or a fraction in (0, 1) / a row count drawn with ``rng``;
            the only way rows are left out. A lazy table has its needed columns collected
            (recorded in ``details["collected"]``).

    Returns an :class:`EstimateSet`: ``"policy"`` (headline), ``"treat everyone"``,
    ``"treat no one"``, ``"gain vs treat no one"`` and ``"gain vs treat everyone"``.
    """
    role = {"cost": cost} if isinstance(cost, str) else {}
    gen = as_rng(rng)
    prop_col = propensity if isinstance(propensity, str) else None
    data, record = gather(
        data,
        [treatment, outcome, policy, prop_col, role.get("cost"), *(covariates or [])],
        sample=sample,
        rng=gen,
    )
    cols = _frame.load(
        data,
        binary={"treatment": treatment, "policy": policy},
        numeric={"outcome": outcome, **propensity_role(propensity), **role},
        covariates=list(covariates or []),
        missing=missing,
        require_both=("treatment",),
    )
    known = known_propensity(cols, propensity)
    seed = int(gen.integers(0, 2**31 - 1))
    nu, how = _nuisance(cols, known, seed, model, n_folds)
    g1, g0 = nu.aipw_scores(cols["treatment"], cols["outcome"])
    c = _cost(cols, cost)
    params = {
        "design": "uplift",
        "analysis": "policy value",
        "treatment": treatment,
        "outcome": outcome,
        "policy": policy,
        "cost": cost if not isinstance(cost, float) else float(cost),
        "value": float(value),
        "adjustment": how,
        "engine": engine_label(record),
        "sample": sample,
    }
    res = policy_result(cols, cols["policy"], g1, g0, c, float(value), nu.e, params, conf_level)
    return with_record(res, record)


def policy_result(
    cols: _frame.Columns,
    pi: np.ndarray,
    g1: np.ndarray,
    g0: np.ndarray,
    c: np.ndarray,
    value: float,
    e: np.ndarray,
    params: dict[str, Any],
    conf_level: float,
) -> EstimateSet:
    """Assemble the policy-value EstimateSet from scores (shared with :func:`targeting_rule`)."""
    ones, zeros = np.ones_like(pi), np.zeros_like(pi)
    contrib = {
        "policy": policy_value_kernel(pi, g1, g0, c, value),
        "treat everyone": policy_value_kernel(ones, g1, g0, c, value),
        "treat no one": policy_value_kernel(zeros, g1, g0, c, value),
    }
    contrib["gain vs treat no one"] = contrib["policy"] - contrib["treat no one"]
    contrib["gain vs treat everyone"] = contrib["policy"] - contrib["treat everyone"]
    share = float(pi.mean())
    estimates = []
    for label, z in contrib.items():
        est = float(z.mean())
        se = if_se(z - est)
        lo, hi, p = interval(est, se, conf_level)
        estimates.append(
            (
                label,
                Estimate(
                    estimate=est,
                    std_error=se,
                    ci_low=lo,
                    ci_high=hi,
                    conf_level=conf_level,
                    p_value=p,
                    n_obs=cols.n_obs,
                    n_dropped=cols.n_dropped,
                    estimand=_estimand(label, params, share),
                    method=f"policy value ({params['adjustment']})",
                    params=params,
                    inference="influence function (AIPW scores), normal interval",
                ),
            )
        )
    extreme = float(np.mean((e < 0.02) | (e > 0.98)))
    diag = Diagnostic(
        "overlap",
        "fail" if extreme > 0.05 else "pass",
        extreme,
        "share of propensities outside [0.02, 0.98] <= 5%",
        f"{100 * extreme:.1f}% of users have extreme propensities"
        + ("; the policy value extrapolates for them." if extreme > 0.05 else "."),
        consequence="downgrade",
    )
    return EstimateSet(
        title=f"Value of targeting policy {params['policy']!r}",
        estimates=tuple(estimates),
        method="policy evaluation with doubly robust scores (Athey & Wager 2021)",
        headline="policy",
        params=params,
        diagnostics=(diag,),
        details={"share_treated": share},
    )


def _estimand(label: str, params: dict[str, Any], share: float) -> str:
    unit = f"{params['value']:g} x {params['outcome']}" + (
        " minus cost per treated user" if params["cost"] is not None else ""
    )
    return {
        "policy": f"mean of {unit} if {params['policy']!r} decided who is treated "
        f"({100 * share:.1f}% treated)",
        "treat everyone": f"mean of {unit} if every user were treated",
        "treat no one": f"mean of {unit} if no user were treated",
        "gain vs treat no one": f"policy value minus treat-no-one value ({unit})",
        "gain vs treat everyone": f"policy value minus treat-everyone value ({unit})",
    }[label]


@dataclass(frozen=True)
class TargetingRule:
    """Who should get the feature: treat a user when ``value * CATE(x) > cost``.

    ``threshold`` is the CATE cut-off (cost / value); ``evaluation`` is the policy value of the
    rule's out-of-fold decisions (an :class:`EstimateSet`); ``segments`` summarises the share
    targeted and the mean predicted CATE per level of the ``by`` column.
    """

    threshold: float
    value: float
    cost: float
    covariates: tuple[str, ...]
    feature_names: tuple[str, ...]
    evaluation: EstimateSet
    segments: dict[str, dict[str, float]] = field(default_factory=dict)
    learner: Any = None
    collected: dict[str, Any] = field(default_factory=dict)

    def decide(self, data: Any) -> np.ndarray:
        """0/1 decisions for the users in ``data`` (same covariate columns as at fit time).

        A lazy table has its covariate columns collected (scoring needs the rows)."""
        lf = lazy_frame(data)
        if lf is not None:
            data = lf.select(list(self.covariates)).collect().to_native()
        cols = _frame.load(data, covariates=list(self.covariates), min_rows=1)
        if cols.X_names != self.feature_names:
            raise DataError(
                f"covariates encode to {list(cols.X_names)}, but the rule was learned on "
                f"{list(self.feature_names)}; pass data with the same categories."
            )
        cate = self.learner.predict(cols.X)
        return (cate > self.threshold).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe export: threshold, costs, expected lift with CI, segments."""
        gain = self.evaluation["gain vs treat no one"]
        return jsonable(
            {
                "rule": f"treat when {self.value:g} x predicted CATE > {self.cost:g}",
                "threshold_cate": self.threshold,
                "value_per_outcome": self.value,
                "cost_per_treated": self.cost,
                "share_treated": self.evaluation.details.get("share_treated"),
                "expected_gain_vs_treat_no_one": gain.estimate,
                "ci": [gain.ci_low, gain.ci_high],
                "segments": self.segments,
                "covariates": list(self.covariates),
                "collected": self.collected,
            }
        )


def targeting_rule(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    cost: float = 0.0,
    value: float = 1.0,
    by: str | None = None,
    learner: Learner = "dr",
    model: Any = None,
    propensity: float | str | None = None,
    n_folds: int = 5,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
    rng: Rng = None,
    sample: float | int | None = None,
) -> TargetingRule:
    """Learn the cost-aware rule "treat when value x CATE(x) > cost" and evaluate it honestly.

    The CATE comes from a cross-fitted meta-learner; each user's decision for the evaluation uses
    the out-of-fold CATE (a model that never saw that user), and the rule's value is estimated with
    cross-fitted AIPW scores. ``cost`` is the feature's cost per treated user in units of
    ``value * outcome`` (e.g. value = $ per completed task, cost = $ per agent-mode user).
    ``sample`` (a fraction or a row count, drawn with ``rng``) is the only way rows are left out;
    a lazy table has its needed columns collected, recorded in ``rule.collected``.
    """
    check_option("learner", learner, LEARNERS)
    if not value > 0:
        raise DesignError(f"value must be positive; got {value!r}.")
    gen = as_rng(rng)
    prop_col = propensity if isinstance(propensity, str) else None
    data, record = gather(
        data, [treatment, outcome, prop_col, by, *covariates], sample=sample, rng=gen
    )
    cols = _frame.load(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome, **propensity_role(propensity)},
        keys={"by": by},
        covariates=list(covariates),
        missing=missing,
    )
    known = known_propensity(cols, propensity)
    seed = int(gen.integers(0, 2**31 - 1))
    ml = MetaLearner(learner, model, None, None, n_folds, random_state=seed)
    ml.fit(cols.X, cols["treatment"], cols["outcome"], propensity=known)
    threshold = float(cost) / float(value)
    pi = (ml.cate_ > threshold).astype(float)
    g1, g0 = ml.nuisance_.aipw_scores(cols["treatment"], cols["outcome"])
    params = {
        "design": "uplift",
        "analysis": "policy value",
        "treatment": treatment,
        "outcome": outcome,
        "policy": f"{learner.upper()}-learner rule: {value:g} x CATE > {cost:g}",
        "cost": float(cost),
        "value": float(value),
        "adjustment": "AIPW, cross-fitted; out-of-fold decisions",
        "engine": engine_label(record),
        "sample": sample,
    }
    c = np.full(cols.n_obs, float(cost))
    evaluation = policy_result(
        cols, pi, g1, g0, c, float(value), ml.nuisance_.e, params, conf_level
    )
    evaluation = with_record(evaluation, record)
    segments = {}
    if by is not None:
        for code, level in enumerate(cols.levels["by"]):
            m = cols["by"] == code
            segments[str(level)] = {
                "n": int(m.sum()),
                "share_treated": float(pi[m].mean()),
                "mean_cate": float(ml.cate_[m].mean()),
            }
    return TargetingRule(
        threshold=threshold,
        value=float(value),
        cost=float(cost),
        covariates=tuple(covariates),
        feature_names=cols.X_names,
        evaluation=evaluation,
        segments=segments,
        learner=ml,
        collected=record,
    )
