"""Switchback experiments: the whole system is switched between arms by time slot.

When units share a resource (GPU capacity, a router, a marketplace), randomizing users contaminates
the comparison; instead every time slot is randomized to one arm. Two problems follow: outcomes are
autocorrelated over time, and a slot's outcome may carry over the arm of the slots before it
(queues drain, caches warm).

Method used here (model-based, not design-based): slot-level OLS of the slot-mean outcome on the
current and ``carryover`` lagged exposures,

    y_t = a + b_0 W_t + b_1 W_{t-1} + ... + b_L W_{t-L} + e_t,

with Newey & West (1987) HAC (Bartlett kernel) standard errors; the headline is the total effect
of sustained exposure ``b_0 + ... + b_L`` (always-on vs always-off once carryover has run its
course), which equals the lag-``L`` ("m-carryover") total effect of Bojinov, Simchi-Levi & Zhao
(2023, Management Science, "Design and analysis of switchback experiments") when carryover lasts at
most ``L`` slots and enters additively. Their design-based Horvitz–Thompson estimator is not
implemented; a naive slot comparison (``carryover=0``) is given in ``details`` for contrast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from truelift import _frame
from truelift.errors import DataError, DesignError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate

__all__ = ["newey_west", "switchback"]


def _inv_xtx(X: np.ndarray) -> np.ndarray:
    XtX = X.T @ X
    if np.linalg.matrix_rank(XtX) < XtX.shape[0]:
        raise DataError(
            "the lagged-exposure regression is singular (the slot arms do not vary enough, e.g. "
            "strictly alternating slots make current and lagged exposure collinear)."
        )
    return np.linalg.inv(XtX)


def newey_west(X: np.ndarray, resid: np.ndarray, lags: int) -> np.ndarray:
    """OLS coefficient covariance with the Newey–West (Bartlett) HAC meat and ``lags`` lags."""
    bread = _inv_xtx(X)
    s = X * resid[:, None]
    meat = s.T @ s
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        g = s[lag:].T @ s[:-lag]
        meat += w * (g + g.T)
    n, k = X.shape
    return bread @ meat @ bread * n / (n - k)


def _slots(cols: _frame.Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    slot = cols["time"]
    T = int(slot.max()) + 1
    cnt = np.bincount(slot, minlength=T).astype(float)
    w_mean = np.bincount(slot, weights=cols["treatment"], minlength=T) / cnt
    mixed = (w_mean > 0) & (w_mean < 1)
    if mixed.any():
        raise DataError(
            f"{int(mixed.sum())} time slot(s) mix both arms; a switchback assigns each whole slot "
            "to one arm. Check the time column (it must be the randomized slot)."
        )
    y = np.bincount(slot, weights=cols["outcome"], minlength=T) / cnt
    return y, w_mean, cnt


def _design(w: np.ndarray, lags: int) -> np.ndarray:
    T = w.size
    cols = [np.ones(T - lags)] + [w[lags - lag : T - lag] for lag in range(lags + 1)]
    return np.column_stack(cols)


def _fit(y: np.ndarray, w: np.ndarray, lags: int, hac: int) -> tuple[np.ndarray, np.ndarray]:
    X = _design(w, lags)
    yy = y[lags:]
    coef = _inv_xtx(X) @ (X.T @ yy)
    return coef, newey_west(X, yy - X @ coef, hac)


def switchback(
    data: Any,
    *,
    outcome: str,
    treatment: str,
    time: str,
    carryover: int = 1,
    hac_lags: int | None = None,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Total effect of sustained exposure in a switchback experiment (lagged exposure + HAC).

    Args:
        outcome: outcome per row (rows are aggregated to slot means).
        treatment: 0/1 arm of the row's slot (constant within a slot).
        time: the randomized time slot (sortable; consecutive slots are consecutive levels).
        carryover: number of previous slots whose arm may still affect the outcome (L >= 0).
        hac_lags: Newey–West lags; default ``floor(4 (T/100)^(2/9))``.
    """
    if not isinstance(carryover, (int, np.integer)) or carryover < 0:
        raise DesignError(f"carryover must be a non-negative integer; got {carryover!r}.")
    cols = _frame.load(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome},
        keys={"time": time},
        missing=missing,
    )
    y, w, cnt = _slots(cols)
    T, L = y.size, int(carryover)
    H = _hac_lags(T, L, w, hac_lags)
    coef, V = _fit(y, w, L, H)
    g = np.r_[0.0, np.ones(L + 1)]
    est, se = float(g @ coef), float(np.sqrt(g @ V @ g))
    df = T - L - (L + 2)
    lo, hi, p = interval(est, se, conf_level, df=df)
    naive, Vn = _fit(y, w, 0, H)
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        estimand=(
            f"total effect of sustained exposure to {treatment} on the slot-mean {outcome} "
            f"(current slot plus {L} slot(s) of carryover; always-on vs always-off)"
        ),
        method="switchback: slot-level OLS with lagged exposure, Newey–West HAC",
        params={
            "design": "experiment",
            "analysis": "switchback",
            "outcome": outcome,
            "treatment": treatment,
            "time": time,
            "carryover": L,
            "hac_lags": H,
            "conf_level": conf_level,
            "missing": missing,
            "n_slots": T,
        },
        diagnostics=(_carryover_check(y, w, L, H), _slot_count_check(T)),
        inference=f"Newey–West HAC ({H} lags), Student t with {df} df",
        details={
            "lag_effects": coef[1:].tolist(),
            "lag_se": np.sqrt(np.diag(V))[1:].tolist(),
            "naive_slot_difference": {"estimate": float(naive[1]), "se": float(np.sqrt(Vn[1, 1]))},
            "slot_mean": y.tolist(),
            "slot_treatment": w.tolist(),
            "slot_rows": cnt.tolist(),
        },
    )


def _hac_lags(T: int, L: int, w: np.ndarray, hac_lags: int | None) -> int:
    """Check the slot count and the arms; the Newey–West lag count (default 4 (T/100)^(2/9))."""
    if T - L < L + 12:
        raise DataError(
            f"{T} time slots cannot support carryover={L}: at least {2 * L + 12} slots are "
            "needed for the lagged regression."
        )
    if np.ptp(w) == 0:
        raise DataError("every time slot has the same arm; there is nothing to compare.")
    H = int(np.floor(4 * (T / 100) ** (2 / 9))) if hac_lags is None else int(hac_lags)
    if H < 0:
        raise DesignError(f"hac_lags must be a non-negative integer; got {hac_lags}.")
    return H


def _carryover_check(y: np.ndarray, w: np.ndarray, L: int, H: int) -> Diagnostic:
    """Is the exposure one slot beyond the modelled carryover still associated with y?"""
    coef, V = _fit(y, w, L + 1, H)
    est, se = float(coef[-1]), float(np.sqrt(V[-1, -1]))
    df = y.size - (L + 1) - (L + 3)
    p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else 1.0
    ok = p >= 0.05
    return Diagnostic(
        name="carryover",
        verdict="pass" if ok else "fail",
        value=p,
        threshold=f"exposure {L + 1} slot(s) back has no effect (p >= 0.05)",
        message=(
            f"Adding exposure {L + 1} slot(s) back gives {est:+.4g} (p = {p:.3g}). "
            + (
                f"Carryover appears to have run its course within {L} slot(s)."
                if ok
                else f"Carryover lasts longer than the {L} modelled slot(s): increase "
                "carryover= (or use longer slots) until the next lag is negligible; the "
                "estimate misses the rest of the effect."
            )
        ),
        consequence="downgrade",
    )


def _slot_count_check(T: int) -> Diagnostic:
    ok = T >= 50
    return Diagnostic(
        name="number of slots",
        verdict="pass" if ok else "warn",
        value=float(T),
        threshold=">= 50 time slots",
        message=(
            "Enough slots for HAC inference."
            if ok
            else f"Only {T} slots: HAC standard errors are unreliable with few slots; run longer."
        ),
        consequence="none",
    )
