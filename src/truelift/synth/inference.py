"""Inference for synthetic controls: placebos in space and in time, and the jackknife.

* Placebo-in-space (Abadie, Diamond & Hainmueller 2010, 2015): every donor in turn is treated as if
  it had launched, with the other donors as its pool. The treated unit's post/pre RMSPE ratio is
  ranked among the placebos' ratios (``p = (1 + #{placebo ratio >= treated ratio}) / (1 + n)``),
  after filtering placebos whose pre-period MSPE exceeds ``filter`` times the treated unit's
  (ADH 2010 use 5; the number filtered is reported). The standard error is the placebo variance
  of Arkhangelsky et al. (2021, Algorithm 4): the (population) standard deviation of the placebo
  effects, with the synthdid rule of restarting the weights from the fitted ones.
* Placebo-in-time (Abadie, Diamond & Hainmueller 2015): the launch is moved back into the
  pre-period at every period from the middle of the pre-period on, the design refitted on earlier
  data only, and the fake effects over a window as long as the real post-period (cut at the real
  launch) form the null distribution: SE = their root mean square, p = rank of ``|effect|``.
* Jackknife: for synthetic DiD with two or more treated units, synthdid's jackknife (Algorithm 3:
  fixed weights, each unit left out in turn). For the other methods, a leave-one-donor-out
  jackknife (weights refitted without each donor), which measures the sensitivity to the donor
  pool rather than sampling noise in the treated unit.

The outcome-only SC and demeaned placebos share one Gram matrix across donors, so a full
placebo run over 1,000 donors is 1,000 small active-set solves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from truelift.errors import DesignError
from truelift.synth._fit import Fit, Method, fit_outcome, fit_predictors
from truelift.synth._simplex import simplex_qp
from truelift.synth.sdid import placebo_gaps, sdid_jackknife

__all__ = ["Placebos", "jackknife", "placebo_space", "placebo_time"]


@dataclass(frozen=True)
class Placebos:
    """Placebo effects and fit figures, one entry per placebo run."""

    effects: np.ndarray
    pre_rmspe: np.ndarray
    post_rmspe: np.ndarray
    gaps: np.ndarray
    kept: np.ndarray
    std_error: float
    p_value: float
    n_filtered: int
    treated_ratio: float


def _ratio(post: np.ndarray | float, pre: np.ndarray | float) -> Any:
    return np.asarray(post) / np.maximum(np.asarray(pre), 1e-300)


def _gram_gaps(method: Method, Y0: np.ndarray, T0: int) -> np.ndarray:
    """Placebo gap paths for outcome-only SC / demeaned SC, sharing one Gram matrix."""
    J = Y0.shape[0]
    P = Y0[:, :T0]
    if method == "demeaned":
        P = P - P.mean(axis=1, keepdims=True)
    G = P @ P.T
    gaps = np.empty_like(Y0)
    means = Y0[:, :T0].mean(axis=1)
    for j in range(J):
        w = simplex_qp(G, G[:, j], exclude=j)  # w[j] == 0: donor j is left out of its own pool
        nz = np.flatnonzero(w)
        cf = w[nz] @ Y0[nz]
        if method == "demeaned":
            cf = cf + (means[j] - w[nz] @ means[nz])
        gaps[j] = Y0[j] - cf
    return gaps


def placebo_space(
    method: Method,
    Y0: np.ndarray,
    fit: Fit,
    *,
    ridge: float | None = None,
    predictors: tuple[np.ndarray, np.ndarray] | None = None,
    filter: float = 5.0,
) -> Placebos:
    """Every donor as a placebo treated unit (``predictors``: ``(X0, fit_cols)``, ``V`` fixed)."""
    T0 = fit.T0
    J = Y0.shape[0]
    if J < 3:
        raise DesignError("placebo inference needs at least three donors.")
    if predictors is None and method in ("sc", "demeaned"):
        gaps = _gram_gaps(method, Y0, T0)
    elif method == "sdid":
        gaps = placebo_gaps(Y0, T0, fit.extra["sdid"])
    else:
        gaps = np.empty_like(Y0)
        for j in range(J):
            keep = np.arange(J) != j
            if predictors is not None:
                X0, cols = predictors
                f = fit_predictors(
                    Y0[keep], Y0[j], T0, X0[:, keep], X0[:, j], cols, v=fit.extra["v"]
                )
            else:
                f = fit_outcome(method, Y0[keep], Y0[j], T0, ridge=ridge)
            gaps[j] = f.gap
    pre = np.sqrt(np.mean(gaps[:, :T0] ** 2, axis=1))
    post = np.sqrt(np.mean(gaps[:, T0:] ** 2, axis=1))
    effects = gaps[:, T0:].mean(axis=1)
    kept = pre**2 <= filter * max(fit.pre_rmspe**2, 1e-300)
    ratio = _ratio(fit.post_rmspe, fit.pre_rmspe)
    ranks = int(np.sum(_ratio(post, pre)[kept] >= ratio))
    # no placebo with a comparable pre-fit: the rank p-value is undefined (NaN), not 1
    p = (1 + ranks) / (1 + int(kept.sum())) if kept.any() else float("nan")
    return Placebos(
        effects=effects,
        pre_rmspe=pre,
        post_rmspe=post,
        gaps=gaps,
        kept=kept,
        std_error=float(np.std(effects, ddof=0)),
        p_value=float(p),
        n_filtered=int((~kept).sum()),
        treated_ratio=float(ratio),
    )


def placebo_time(
    method: Method, Y0: np.ndarray, y1: np.ndarray, T0: int, *, ridge: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fake launch periods in the second half of the pre-period and their fake effects."""
    T1 = Y0.shape[1] - T0
    fakes = np.arange(max(2, math.ceil(T0 / 2)), T0)
    if fakes.size < 2:
        raise DesignError(
            f"placebo-in-time needs at least four pre-periods; the data have {T0}. Use "
            "inference='placebo' (placebo-in-space) instead."
        )
    effects = np.empty(fakes.size)
    for k, t in enumerate(fakes):
        end = min(t + T1, T0)
        f = fit_outcome(method, Y0[:, :end], y1[:end], int(t), ridge=ridge)
        effects[k] = f.effect
    return fakes, effects


def jackknife(
    method: Method,
    Y0: np.ndarray,
    Y1: np.ndarray,
    fit: Fit,
    *,
    ridge: float | None = None,
    refit: Any = None,
) -> tuple[float, np.ndarray, str]:
    """Jackknife SE, the leave-one-out estimates and the name of the scheme used."""
    T0 = fit.T0
    if method == "sdid":
        if Y1.shape[0] < 2:
            raise DesignError(
                "synthdid's jackknife needs two or more treated units (with one it is undefined); "
                "use inference='placebo'."
            )
        se = sdid_jackknife(np.vstack([Y0, Y1]), Y0.shape[0], T0, fit.extra["sdid"])
        return se, np.array([]), "synthdid jackknife over units (fixed weights)"
    J = Y0.shape[0]
    u = np.full(J, fit.effect)
    active = np.flatnonzero(np.abs(fit.weights) > 1e-12)
    for j in active:
        keep = np.arange(J) != j
        if refit is not None:
            u[j] = refit(keep).effect
        else:
            u[j] = fit_outcome(method, Y0[keep], Y1.mean(axis=0), T0, ridge=ridge).effect
    se = float(np.sqrt((J - 1) / J * np.sum((u - u.mean()) ** 2)))
    return se, u, "leave-one-donor-out jackknife (weights refitted)"
