"""The propensity score itself: P(treatment = 1 | covariates) (Rosenbaum & Rubin 1983).

By default the unpenalized logistic maximum-likelihood fit by Newton–Raphson (see ``_logit``);
any scikit-learn classifier through ``model=``. Categorical covariates are one-hot encoded
against their first level by the data boundary (:func:`truelift._frame.load`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truelift import _frame
from truelift.propensity._common import fit_score, load_design
from truelift.propensity.diagnostics import auc_diagnostic, overlap_diagnostic
from truelift.propensity.weighting import weights
from truelift.result import Diagnostic, jsonable

__all__ = ["PropensityScore", "propensity_score"]


@dataclass(frozen=True, repr=False)
class PropensityScore:
    """A fitted propensity model.

    Attributes:
        scores: P(treatment = 1 | covariates) for every analysed row (rows in input order, after
            any ``missing="drop"``).
        treatment: the 0/1 treatment of the same rows.
        coef: coefficient per design column (``intercept`` first) for the logistic model, else None.
        auc: area under the ROC curve of the scores.
        converged: whether the fit converged (a logistic fit that does not converge raises).
        n_iter: Newton steps taken (logistic) or None.
        model: the model in words.
        diagnostics: the AUC and the overlap (positivity for the ATE) checks.
    """

    scores: np.ndarray
    treatment: np.ndarray
    coef: Mapping[str, float] | None
    auc: float
    converged: bool
    n_iter: int | None
    model: str
    n_obs: int
    n_dropped: int
    covariates: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def __repr__(self) -> str:
        return (
            f"PropensityScore(model={self.model!r}, n_obs={self.n_obs}, auc={self.auc:.4f}, "
            f"range=[{self.scores.min():.4f}, {self.scores.max():.4f}])"
        )

    def summary(self) -> str:
        """A short text summary with the diagnostics."""
        lines = [repr(self)]
        if self.coef:
            lines += [f"  {k:>30s} {v:+.5f}" for k, v in self.coef.items()]
        lines += [f"  [{d.verdict}] {d.name}: {d.message}" for d in self.diagnostics]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (without the per-row scores)."""
        return jsonable(
            {
                "model": self.model,
                "auc": self.auc,
                "converged": self.converged,
                "n_iter": self.n_iter,
                "n_obs": self.n_obs,
                "n_dropped": self.n_dropped,
                "covariates": list(self.covariates),
                "coef": dict(self.coef) if self.coef else None,
                "range": [float(self.scores.min()), float(self.scores.max())],
                "diagnostics": [d.to_dict() for d in self.diagnostics],
            }
        )


def propensity_score(
    data: Any,
    *,
    treatment: str,
    covariates: Any,
    model: Any = None,
    missing: _frame.MissingPolicy = "raise",
) -> PropensityScore:
    """Fit P(``treatment`` = 1 | ``covariates``).

    Args:
        model: ``None`` for the unpenalized logistic MLE (Newton–Raphson on numpy; raises
            :class:`~truelift.errors.SeparationError` under complete separation), or any
            scikit-learn classifier with ``predict_proba``.
    """
    design = load_design(
        data, treatment=treatment, outcome=None, covariates=covariates, missing=missing
    )
    score = fit_score(design, model)
    w = weights(score.e, design.t, "ATE")[0]
    coef = (
        dict(zip(("intercept", *design.X_names), map(float, score.coef), strict=True))
        if score.coef is not None
        else None
    )
    return PropensityScore(
        scores=score.e,
        treatment=design.t,
        coef=coef,
        auc=score.auc,
        converged=True,
        n_iter=score.n_iter,
        model=score.model,
        n_obs=design.n_obs,
        n_dropped=design.n_dropped,
        covariates=design.covariates,
        diagnostics=(auc_diagnostic(score.auc), overlap_diagnostic(score.e, design.t, w, "ATE")),
    )
