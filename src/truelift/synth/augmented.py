"""Ridge augmented synthetic control (Ben-Michael, Feller & Rothstein 2021, JASA).

The SC weights are corrected by a ridge regression of the post-period outcomes on the pre-period
outcomes, fitted on the donors: with pre-periods centred on the donor means (``X_c`` donors,
``x_1`` treated),

    w_aug = w_sc + X_c (X_c' X_c + lambda I)^{-1} (x_1 - X_c' w_sc),

so the bias left by an imperfect pre-period fit is removed in the direction the ridge model
predicts; the correction sums to zero, so the weights still sum to one (but may be negative).
``lambda`` is chosen as in the R package ``augsynth`` (``cv_lambda``): a grid from the squared
largest singular value of ``X_c`` down by a factor of 1e-8 in 20 steps, scored by leaving each
pre-period out in turn (fit on the others, predict the left-out one), and the largest ``lambda``
within one standard error of the minimum is kept.
"""

from __future__ import annotations

import numpy as np

from truelift.synth.sc import outcome_weights

__all__ = ["augmented_weights", "ridge_correction"]


def ridge_correction(Xc: np.ndarray, r: np.ndarray, lam: float) -> np.ndarray:
    """``X_c (X_c'X_c + lam I)^{-1} r`` (donors x periods ``Xc``), in the cheaper dual form."""
    J, T = Xc.shape
    if T <= J:
        return Xc @ np.linalg.solve(Xc.T @ Xc + lam * np.eye(T), r)
    return np.linalg.solve(Xc @ Xc.T + lam * np.eye(J), Xc @ r)


def _lambda_grid(Xc: np.ndarray, n: int = 20, ratio: float = 1e-8) -> np.ndarray:
    top = float(np.linalg.svd(Xc, compute_uv=False)[0] ** 2)
    scaler = ratio ** (1.0 / n)
    return top * scaler ** np.arange(n + 1)


def _choose_lambda(Y0_pre: np.ndarray, y1_pre: np.ndarray) -> float:
    T0 = Y0_pre.shape[1]
    m = Y0_pre.mean(axis=0)
    Xc, x1 = Y0_pre - m, y1_pre - m
    grid = _lambda_grid(Xc)
    if T0 < 3:
        return float(grid[0])
    errors = np.empty((T0, grid.size))
    for i in range(T0):
        keep = np.arange(T0) != i
        w = outcome_weights(Xc[:, keep], x1[keep])
        r = x1[keep] - Xc[:, keep].T @ w
        for j, lam in enumerate(grid):
            wa = w + ridge_correction(Xc[:, keep], r, lam)
            errors[i, j] = (x1[i] - Xc[:, i] @ wa) ** 2
    mean = errors.mean(axis=0)
    se = errors.std(axis=0, ddof=1) / np.sqrt(T0)
    best = int(np.argmin(mean))
    return float(np.max(grid[mean <= mean[best] + se[best]]))


def augmented_weights(
    Y0_pre: np.ndarray, y1_pre: np.ndarray, lam: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge-ASCM weights, the SC weights they start from, and the ridge ``lambda`` used."""
    m = Y0_pre.mean(axis=0)
    Xc, x1 = Y0_pre - m, y1_pre - m
    w = outcome_weights(Y0_pre, y1_pre)
    lam = _choose_lambda(Y0_pre, y1_pre) if lam is None else float(lam)
    return w + ridge_correction(Xc, x1 - Xc.T @ w, lam), w, lam
