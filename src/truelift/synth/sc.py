"""Synthetic control weights: Abadie, Diamond & Hainmueller (2010) and the demeaned variant.

* Outcome-only SC: donor weights on the unit simplex that best reproduce the treated unit's
  pre-period outcome path (Abadie & Gardeazabal 2003; ADH 2010 with ``V`` the identity on the
  lagged outcomes).
* Predictor SC with nested ``V`` (ADH 2010, as the R package ``Synth``): predictors are scaled by
  their standard deviation across all units; for a diagonal ``V`` (non-negative, summing to one)
  the inner problem ``min_w (X1 - X0 w)' V (X1 - X0 w)`` over the simplex gives ``W(V)``; the outer
  problem picks ``V`` minimising the mean squared outcome gap over the fit window, by Nelder-Mead
  from the equal and the regression-based starting ``V`` (the better of the two is kept).
* Demeaned SC (Doudchenko & Imbens 2016; Ferman & Pinto 2021): the same simplex weights on
  pre-period paths with each unit's pre-period mean removed, i.e. SC with an intercept; the
  counterfactual is the weighted donors shifted by the pre-period level gap, so a treated unit
  whose level lies above every donor can still be matched in its dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from truelift.synth._simplex import simplex_qp

__all__ = ["PredictorFit", "demeaned_weights", "outcome_weights", "predictor_weights"]


def outcome_weights(Y0_pre: np.ndarray, y1_pre: np.ndarray) -> np.ndarray:
    """Simplex weights (one per row of ``Y0_pre``, donors x pre-periods) matching ``y1_pre``."""
    return simplex_qp(Y0_pre @ Y0_pre.T, Y0_pre @ y1_pre)


def demeaned_weights(Y0_pre: np.ndarray, y1_pre: np.ndarray) -> np.ndarray:
    """Simplex weights matching the treated path after removing every unit's pre-period mean."""
    D = Y0_pre - Y0_pre.mean(axis=1, keepdims=True)
    return outcome_weights(D, y1_pre - y1_pre.mean())


@dataclass(frozen=True)
class PredictorFit:
    """Nested-``V`` synthetic control: donor weights, predictor weights and the outer loss."""

    w: np.ndarray
    v: np.ndarray
    loss: float
    scale: np.ndarray


def _w_of_v(
    X0s: np.ndarray, X1s: np.ndarray, v: np.ndarray, warm: np.ndarray | None = None
) -> np.ndarray:
    V = np.abs(v)
    s = V.sum()
    V = V / s if s > 0 else np.full(V.size, 1.0 / V.size)
    XV = X0s * V[:, None]
    return simplex_qp(X0s.T @ XV, XV.T @ X1s, warm=warm)


def _regression_v(X0s: np.ndarray, X1s: np.ndarray, Z0: np.ndarray, Z1: np.ndarray) -> np.ndarray:
    """Synth's regression-based start: diag(B B') of the outcome-on-predictors coefficients."""
    X = np.column_stack([np.ones(X0s.shape[1] + 1), np.column_stack([X0s, X1s]).T])
    Z = np.column_stack([Z0, Z1]).T
    beta = np.linalg.lstsq(X, Z, rcond=None)[0][1:]
    d = np.sum(beta**2, axis=1)
    return d / d.sum() if d.sum() > 0 else np.full(d.size, 1.0 / d.size)


def predictor_weights(
    X0: np.ndarray,
    X1: np.ndarray,
    Z0: np.ndarray,
    Z1: np.ndarray,
    *,
    v: np.ndarray | None = None,
) -> PredictorFit:
    """ADH weights from predictors ``X0`` (p x J), ``X1`` (p) and fit-window outcomes ``Z0``, ``Z1``.

    ``v`` fixes the predictor weights (Synth's ``custom.v``); otherwise they are optimised.
    """
    all_x = np.column_stack([X0, X1])
    scale = np.std(all_x, axis=1, ddof=1)
    scale = np.where(scale > 0, scale, 1.0)
    X0s, X1s = X0 / scale[:, None], X1 / scale

    last: list[np.ndarray] = []

    def loss(vv: np.ndarray) -> float:
        w = _w_of_v(X0s, X1s, vv, last[0] if last else None)
        last[:] = [w]
        return float(np.mean((Z1 - Z0 @ w) ** 2))

    if v is not None:
        vv = np.abs(np.asarray(v, dtype=float))
        vv = vv / vv.sum()
        return PredictorFit(_w_of_v(X0s, X1s, vv), vv, loss(vv), scale)
    p = X0.shape[0]
    best_v, best = np.full(p, 1.0 / p), np.inf
    for start in (np.full(p, 1.0 / p), _regression_v(X0s, X1s, Z0, Z1)):
        f0 = loss(start)
        res = minimize(
            loss,
            start,
            method="Nelder-Mead",
            options={"maxiter": 400 * p, "xatol": 1e-6, "fatol": 1e-10 * f0, "adaptive": p > 4},
        )
        if res.fun < best:
            best, best_v = float(res.fun), np.abs(res.x) / np.abs(res.x).sum()
    return PredictorFit(_w_of_v(X0s, X1s, best_v), best_v, best, scale)
