"""Shared plumbing of the propensity designs: option checks, loading, the fitted score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from truelift import _frame
from truelift.errors import DataError, DesignError, IdentificationError
from truelift.propensity._logit import auc, fit_logit, predict_logit

__all__ = [
    "Design",
    "Score",
    "check_scores",
    "choice",
    "covariate_list",
    "fit_score",
    "load_design",
    "sklearn_score",
]


def choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise raise DesignError naming them."""
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise DesignError(f"{name} must be one of {shown}; got {value!r}.")
    return value


def covariate_list(covariates: Any) -> list[str]:
    if isinstance(covariates, str):
        covariates = [covariates]
    if covariates is None or len(covariates) == 0:
        raise DesignError(
            "covariates must name at least one column: the propensity design adjusts for the "
            "observed confounders of who takes the feature (e.g. ['engagement_tier', 'tenure'])."
        )
    return list(covariates)


@dataclass(frozen=True)
class Design:
    """Validated numpy columns of one propensity analysis (no reference to the caller's frame)."""

    t: np.ndarray
    y: np.ndarray | None
    X: np.ndarray
    X_names: tuple[str, ...]
    cluster: np.ndarray | None
    n_obs: int
    n_dropped: int
    covariates: tuple[str, ...]
    reference_levels: dict[str, str]

    def balance_layout(self) -> list[tuple[str, list[int], bool]]:
        """The balance table's rows: every numeric covariate and every level of a categorical
        one, as (name, columns of X, is_reference). A reference level (dropped from X) is
        ``1 - sum`` of its covariate's dummy columns; any other row is one column of X."""
        out: list[tuple[str, list[int], bool]] = []
        for cov in self.covariates:
            idx = [j for j, nm in enumerate(self.X_names) if nm.startswith(f"{cov}[")]
            if cov in self.reference_levels and idx:
                out.append((f"{cov}[{self.reference_levels[cov]}]", idx, True))
                out.extend((self.X_names[j], [j], False) for j in idx)
            else:
                out.append((cov, [self.X_names.index(cov)], False))
        return out

    def balance_matrix(self) -> tuple[np.ndarray, list[str]]:
        """Every covariate level as a column: numeric covariates, and all levels of categoricals."""
        layout = self.balance_layout()
        if not self.reference_levels:
            return self.X, [name for name, _, _ in layout]
        blocks = [
            1.0 - self.X[:, idx].sum(axis=1) if ref else self.X[:, idx[0]] for _, idx, ref in layout
        ]
        return np.column_stack(blocks), [name for name, _, _ in layout]

    def balance_sums_from_x(
        self, s1: np.ndarray, s2: np.ndarray, tot: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The weighted sums of :meth:`balance_matrix`'s columns and of their squares from those
        of X's columns (rows of ``s1``/``s2``; columns are weight vectors with totals ``tot``):
        a reference level's sums are ``tot`` minus its dummies' (its values are 0/1, so its
        squares sum the same)."""
        layout = self.balance_layout()
        b1 = np.empty((len(layout), s1.shape[1]))
        b2 = np.empty_like(b1)
        for i, (_, idx, ref) in enumerate(layout):
            if ref:
                b1[i] = b2[i] = tot - s1[idx].sum(axis=0)
            else:
                b1[i], b2[i] = s1[idx[0]], s2[idx[0]]
        return b1, b2, [name for name, _, _ in layout]


def _reference_levels(
    data: Any, covariates: Sequence[str], x_names: Sequence[str]
) -> dict[str, str]:
    df = _frame.to_frame(data)
    out: dict[str, str] = {}
    for cov in covariates:
        if any(nm.startswith(f"{cov}[") for nm in x_names):
            present = {nm[len(cov) + 1 : -1] for nm in x_names if nm.startswith(f"{cov}[")}
            values = np.asarray(df[cov].drop_nulls().unique().to_numpy()).astype(str)
            rest = sorted(set(values.tolist()) - present)
            out[cov] = rest[0] if rest else "reference"
    return out


def load_design(
    data: Any,
    *,
    treatment: str,
    outcome: str | None,
    covariates: Any,
    cluster: str | None = None,
    missing: _frame.MissingPolicy = "raise",
) -> Design:
    """Load and validate the columns of a propensity analysis through :func:`truelift._frame.load`."""
    covs = covariate_list(covariates)
    for role, col in (("treatment", treatment), ("outcome", outcome)):
        if col is not None and col in covs:
            raise DesignError(f"The {role} column {col!r} cannot also be a covariate.")
    cols = _frame.load(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome} if outcome is not None else None,
        keys={"cluster": cluster} if cluster is not None else None,
        covariates=covs,
        missing=missing,
    )
    return Design(
        t=cols["treatment"],
        y=cols["outcome"] if outcome is not None else None,
        X=cols.X,
        X_names=cols.X_names,
        cluster=cols["cluster"] if cluster is not None else None,
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        covariates=tuple(covs),
        reference_levels=_reference_levels(data, covs, cols.X_names),
    )


@dataclass(frozen=True)
class Score:
    """A fitted propensity score. ``hessian`` (X'WX with intercept) is set for the logistic MLE,
    whose estimating equations the IPW standard error stacks; ``None`` for other models."""

    e: np.ndarray
    coef: np.ndarray | None
    hessian: np.ndarray | None
    auc: float
    n_iter: int | None
    model: str


def sklearn_score(model: Any, X: np.ndarray, t: np.ndarray, Xnew: np.ndarray) -> np.ndarray:
    """Fit a clone of a scikit-learn classifier on (X, t); P(t = 1) for the rows of ``Xnew``."""
    if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise DesignError(
            "model must be None (unpenalized logistic regression) or a scikit-learn classifier "
            f"with fit() and predict_proba(); got {type(model).__name__}."
        )
    from sklearn.base import clone

    fitted = clone(model).fit(X, t.astype(np.int64))
    classes = [float(c) for c in getattr(fitted, "classes_", [0, 1])]
    return np.asarray(fitted.predict_proba(Xnew), dtype=float)[:, classes.index(1.0)]


def fit_score(design: Design, model: Any = None) -> Score:
    """Fit the propensity model: the unpenalized logistic MLE, or any scikit-learn classifier."""
    X, t = design.X, design.t
    if model is None:
        fit = fit_logit(X, t, names=design.X_names)
        e = predict_logit(X, fit.coef)
        score = Score(e, fit.coef, fit.hessian, auc(e, t), fit.n_iter, "logistic (unpenalized MLE)")
    else:
        e = sklearn_score(model, X, t, X)
        score = Score(e, None, None, auc(e, t), None, type(model).__name__)
    check_scores(e)
    return score


def check_scores(e: np.ndarray) -> None:
    """Raise unless every score is finite and strictly inside (0, 1)."""
    if not np.all(np.isfinite(e)):
        raise DataError("The propensity model returned non-finite scores.")
    if (e <= 0).any() or (e >= 1).any():
        n_bad = int(((e <= 0) | (e >= 1)).sum())
        raise IdentificationError(
            f"{n_bad:,} units have an estimated propensity of exactly 0 or 1: the model says they "
            "could only ever be in one arm, so no weighting can compare them. Use a smoother "
            "propensity model, drop those units, or use estimand='ATO'."
        )
