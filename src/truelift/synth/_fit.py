"""One interface over the four methods: donors + treated path -> weights, counterfactual, gaps.

Every method returns a :class:`Fit` whose ``gap`` is the treated path minus its counterfactual in
every period (pre and post); the effect is the mean post-period gap. Inference (placebos,
jackknife) calls :func:`fit_outcome` again on rearranged arrays, so every method gets the same
placebo machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from truelift.synth.augmented import augmented_weights
from truelift.synth.sc import demeaned_weights, outcome_weights, predictor_weights
from truelift.synth.sdid import sdid_fit

__all__ = ["Fit", "Method", "fit_outcome", "fit_predictors"]

Method = Literal["sc", "demeaned", "sdid", "augmented"]


@dataclass(frozen=True)
class Fit:
    """Weights and paths of one fitted synthetic control (``gap = y1 - counterfactual``)."""

    weights: np.ndarray
    counterfactual: np.ndarray
    gap: np.ndarray
    T0: int
    time_weights: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effect(self) -> float:
        return float(self.gap[self.T0 :].mean())

    @property
    def pre_rmspe(self) -> float:
        return float(np.sqrt(np.mean(self.gap[: self.T0] ** 2)))

    @property
    def post_rmspe(self) -> float:
        return float(np.sqrt(np.mean(self.gap[self.T0 :] ** 2)))


def _finish(w: np.ndarray, Y0: np.ndarray, y1: np.ndarray, T0: int, shift: float, **kw: Any) -> Fit:
    cf = w @ Y0 + shift
    return Fit(weights=w, counterfactual=cf, gap=y1 - cf, T0=T0, **kw)


def fit_outcome(
    method: Method,
    Y0: np.ndarray,
    y1: np.ndarray,
    T0: int,
    *,
    n_treated: int = 1,
    ridge: float | None = None,
) -> Fit:
    """Fit ``method`` on donors ``Y0`` (J x T) and the treated path ``y1`` (T), pre = first T0."""
    pre0, pre1 = Y0[:, :T0], y1[:T0]
    if method == "sc":
        return _finish(outcome_weights(pre0, pre1), Y0, y1, T0, 0.0)
    if method == "demeaned":
        w = demeaned_weights(pre0, pre1)
        return _finish(w, Y0, y1, T0, float(pre1.mean() - w @ pre0.mean(axis=1)))
    if method == "augmented":
        w, w_sc, lam = augmented_weights(pre0, pre1, ridge)
        return _finish(w, Y0, y1, T0, 0.0, extra={"sc_weights": w_sc, "ridge_lambda": lam})
    return _fit_sdid(Y0, y1, T0, n_treated)


def _fit_sdid(Y0: np.ndarray, y1: np.ndarray, T0: int, n_treated: int) -> Fit:
    Y = np.vstack([Y0, y1])
    f = sdid_fit(Y, Y0.shape[0], T0, "sdid", n_treated=n_treated)
    raw = y1 - f.omega @ Y0
    shift = float(f.lam @ raw[:T0])
    extra = {"sdid": f, "zeta_omega": f.zeta_omega, "noise_level": f.noise}
    return _finish(f.omega, Y0, y1, T0, shift, time_weights=f.lam, extra=extra)


def fit_predictors(
    Y0: np.ndarray,
    y1: np.ndarray,
    T0: int,
    X0: np.ndarray,
    X1: np.ndarray,
    fit_cols: np.ndarray,
    *,
    v: np.ndarray | None = None,
) -> Fit:
    """ADH synthetic control on predictors, ``V`` nested on the outcome over ``fit_cols``."""
    pf = predictor_weights(X0, X1, Y0[:, fit_cols].T, y1[fit_cols], v=v)
    return _finish(pf.w, Y0, y1, T0, 0.0, extra={"v": pf.v, "v_loss": pf.loss})
