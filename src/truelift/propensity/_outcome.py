"""Nuisance models of the doubly robust estimator: per-arm outcome regressions and cross-fitting."""

from __future__ import annotations

from typing import Any

import numpy as np

from truelift.errors import DataError, DesignError
from truelift.propensity._kernel import ols_from_gram
from truelift.propensity._logit import fit_logit, predict_logit

__all__ = ["cross_fit", "outcome_predictions"]


def _linear(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
    """Per-arm OLS through its Gram matrix (the same kernel the engine path feeds with sums)."""
    A = np.column_stack([np.ones(len(Xtr)), Xtr])
    coef = ols_from_gram(A.T @ A, A.T @ ytr)
    return np.asarray(coef[0] + Xte @ coef[1:])


def _fit_predict(model: Any, Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
    if ytr.size <= Xtr.shape[1] + 1:
        raise DataError(
            f"An arm has only {ytr.size} units to fit an outcome model with {Xtr.shape[1]} "
            "covariates; use fewer covariates or ipw()."
        )
    if model is None or model == "linear":
        return _linear(Xtr, ytr, Xte)
    if model == "logistic":
        if not np.isin(ytr, (0.0, 1.0)).all():
            raise DesignError("outcome_model='logistic' needs a binary (0/1) outcome.")
        if ytr.min() == ytr.max():
            return np.full(len(Xte), ytr[0])
        return predict_logit(Xte, fit_logit(Xtr, ytr).coef)
    if isinstance(model, str) or not (hasattr(model, "fit") and hasattr(model, "predict")):
        raise DesignError(
            "outcome_model must be 'linear', 'logistic' or a scikit-learn regressor with "
            f"fit() and predict(); got {model!r}."
        )
    from sklearn.base import clone

    return np.asarray(clone(model).fit(Xtr, ytr).predict(Xte), dtype=float)


def outcome_predictions(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, model: Any, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted outcomes under treatment and control for rows ``test``, fitted on ``train``."""
    Xte = X[test]
    out = []
    for arm in (1.0, 0.0):
        rows = train & (t == arm)
        out.append(_fit_predict(model, X[rows], y[rows], Xte))
    return out[0], out[1]


def propensity_predictions(
    X: np.ndarray, t: np.ndarray, model: Any, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Propensity scores for rows ``test`` from a model fitted on ``train``."""
    if model is None:
        return predict_logit(X[test], fit_logit(X[train], t[train]).coef)
    from truelift.propensity._common import sklearn_score

    return sklearn_score(model, X[train], t[train], X[test])


def cross_fit(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    *,
    outcome_model: Any,
    propensity_model: Any,
    folds: int | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(e, m1, m0) for every row: in-sample fits, or out-of-fold fits with ``folds`` >= 2."""
    n = t.size
    if folds is None:
        every = np.ones(n, dtype=bool)
        m1, m0 = outcome_predictions(X, t, y, outcome_model, every, every)
        return propensity_predictions(X, t, propensity_model, every, every), m1, m0
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise DesignError(f"folds must be None or an integer >= 2; got {folds!r}.")
    fold = rng.permutation(np.arange(n) % int(folds))
    e, m1, m0 = np.empty(n), np.empty(n), np.empty(n)
    for k in range(int(folds)):
        test = fold == k
        train = ~test
        e[test] = propensity_predictions(X, t, propensity_model, train, test)
        m1[test], m0[test] = outcome_predictions(X, t, y, outcome_model, train, test)
    return e, m1, m0
