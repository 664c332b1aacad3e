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
from truelift.engines import engine_name, lazy_frame
from truelift.propensity._common import covariate_list, fit_score, load_design
from truelift.propensity.diagnostics import auc_diagnostic, overlap_diagnostic, overlap_verdict
from truelift.propensity.weighting import weights
from truelift.result import Diagnostic, jsonable

__all__ = ["PropensityScore", "propensity_score"]


@dataclass(frozen=True, repr=False)
class PropensityScore:
    """A fitted propensity model.

    Attributes:
        scores: P(treatment = 1 | covariates) for every analysed row (rows in input order, after
            any ``missing="drop"``); ``None`` when the model was fitted inside an engine (a lazy
            table), where the rows stay (``coef`` gives the score of any row).
        treatment: the 0/1 treatment of the same rows (``None`` for a lazy table).
        coef: coefficient per design column (``intercept`` first) for the logistic model, else None.
        auc: area under the ROC curve of the scores.
        converged: whether the fit converged (a logistic fit that does not converge raises).
        n_iter: Newton steps taken (logistic) or None.
        model: the model in words.
        diagnostics: the AUC and the overlap (positivity for the ATE) checks.
    """

    scores: np.ndarray | None
    treatment: np.ndarray | None
    coef: Mapping[str, float] | None
    auc: float
    converged: bool
    n_iter: int | None
    model: str
    n_obs: int
    n_dropped: int
    covariates: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)
    score_range: tuple[float, float] = (float("nan"), float("nan"))
    engine: str = "in-memory"
    transferred: str | None = None

    def __repr__(self) -> str:
        lo, hi = self.score_range
        return (
            f"PropensityScore(model={self.model!r}, n_obs={self.n_obs}, auc={self.auc:.4f}, "
            f"range=[{lo:.4f}, {hi:.4f}])"
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
                "range": list(self.score_range),
                "engine": self.engine,
                "transferred": self.transferred,
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
        data: a pandas, polars or pyarrow table, or a lazy table (DuckDB relation, polars
            LazyFrame, PySpark DataFrame): then each Newton step is one aggregation inside the
            engine and ``scores`` is ``None`` (the rows stay there).
        model: ``None`` for the unpenalized logistic MLE (Newton–Raphson on numpy; raises
            :class:`~truelift.errors.SeparationError` under complete separation), or any
            scikit-learn classifier with ``predict_proba``.
    """
    lf = lazy_frame(data)
    if lf is not None and model is None:
        return _score_lazy(lf, treatment, covariates, missing)
    engine = "in-memory"
    if lf is not None:
        from truelift.propensity._engine import collect

        data = collect(lf, [treatment, *covariate_list(covariates)])
        engine = f"{engine_name(lf)} (rows collected: a scikit-learn model needs rows)"
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
        score_range=(float(score.e.min()), float(score.e.max())),
        engine=engine,
    )


def _score_lazy(lf: Any, treatment: str, covariates: Any, missing: str) -> PropensityScore:
    """The logistic fit inside the engine (one aggregation per Newton step); no rows leave it."""
    from truelift.propensity._engine import score_lazy

    run, fit = score_lazy(lf, treatment=treatment, covariates=covariates, missing=missing)
    f = run.facts
    return PropensityScore(
        scores=None,
        treatment=None,
        coef=run.coef,
        auc=f.auc,
        converged=fit.converged,
        n_iter=fit.n_iter,
        model=run.model,
        n_obs=run.n_obs,
        n_dropped=run.n_dropped,
        covariates=run.covariates,
        diagnostics=(auc_diagnostic(f.auc), overlap_verdict(f.overlap, "ATE")),
        score_range=f.e_range,
        engine=run.engine,
        transferred=run.transferred,
    )
