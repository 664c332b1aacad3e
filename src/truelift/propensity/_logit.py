"""Logistic regression by Newton–Raphson (IRLS) on numpy, plus the AUC.

The kernel works over row blocks and accumulates the sufficient statistics of one Newton step,
``X'(t - p)`` and ``X'WX`` with ``W = diag(p(1 - p))``, so that memory stays at one block however
many rows there are, and so that the same kernel can be fed by an engine that computes the blocks
elsewhere. The intercept is kept out of ``X`` (no n x (k+1) copy); the Hessian is Jacobi-scaled
before solving so badly scaled covariates do not hurt the solve. Step-halving keeps the
log-likelihood increasing. Divergent linear predictors (|x'b| > 30) mean the maximum-likelihood
estimate does not exist (complete or quasi-complete separation; Albert & Anderson 1984) and raise
:class:`~truelift.errors.SeparationError` naming the covariate that predicts treatment exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from truelift.errors import ConvergenceError, SeparationError

__all__ = [
    "LogitFit",
    "auc",
    "auc_from_bins",
    "fit_logit",
    "intercept_start",
    "newton",
    "predict_logit",
    "separation_message",
    "single_threaded_blas",
]

_BLOCK = 1 << 15
AUC_EXACT_ROWS = 200_000  # exact (rank) AUC up to this many rows
AUC_CELLS = 1 << 20  # above it: counts per cell of this many equal-width score cells
_ETA_MAX = 30.0


@dataclass(frozen=True)
class LogitFit:
    """An unpenalized logistic fit: ``coef[0]`` is the intercept, ``hessian`` is X'WX at the end."""

    coef: np.ndarray
    hessian: np.ndarray
    loglik: float
    n_iter: int
    converged: bool


def predict_logit(X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Fitted probabilities ``expit(coef[0] + X @ coef[1:])``."""
    eta = X @ coef[1:]
    eta += coef[0]
    return np.asarray(expit(eta))


def _pass_rows(
    X: np.ndarray, t: np.ndarray, coef: np.ndarray, lo: int, hi: int
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Log-likelihood, score, Hessian and max |eta| over rows lo:hi, in cache-sized blocks."""
    k = X.shape[1]
    grad = np.zeros(k + 1)
    hess = np.zeros((k + 1, k + 1))
    loglik = 0.0
    eta_max = 0.0
    for s in range(lo, hi, _BLOCK):
        e = min(s + _BLOCK, hi)
        Xb, tb = X[s:e], t[s:e]
        eta = Xb @ coef[1:]
        eta += coef[0]
        eta_max = max(eta_max, float(np.abs(eta).max(initial=0.0)))
        p = expit(eta)
        r = tb - p
        loglik += float(np.log(1.0 - np.abs(r)).sum())
        w = p * (1.0 - p)
        rw = np.stack([r, w])
        sums = rw @ Xb  # r'X and w'X in one product
        grad[0] += r.sum()
        grad[1:] += sums[0]
        hess[0, 0] += w.sum()
        hess[0, 1:] += sums[1]
        hess[1:, 0] += sums[1]
        Xs = Xb * np.sqrt(w)[:, None]
        hess[1:, 1:] += Xs.T @ Xs
    return loglik, grad, hess, eta_max


def single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread: the products here are tall and thin (k ~ 10 columns), where
    BLAS threads gain little and, on a busy machine, spin-wait for cores (measured 3-7x slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _pass(
    X: np.ndarray, t: np.ndarray, coef: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """One pass over all rows (cache-sized blocks of 2**15 rows)."""
    with single_threaded_blas():
        return _pass_rows(X, t, coef, 0, X.shape[0])


def _solve(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.clip(np.diag(hess), 1e-300, None))
    scaled = hess / np.outer(d, d)
    try:
        step = np.linalg.solve(scaled, grad / d)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(scaled, grad / d, rcond=None)[0]
    return np.asarray(step / d)


def _separating(X: np.ndarray, t: np.ndarray, names: Sequence[str]) -> list[str]:
    """Covariate columns (0/1 dummies) whose value 1 occurs only among treated or only controls."""
    found = []
    for j, name in enumerate(names):
        x = X[:, j]
        if np.isin(x, (0.0, 1.0)).all() and x.sum() > 0:
            share = t[x == 1].mean()
            if share in (0.0, 1.0):
                found.append(f"{name} (all {'treated' if share == 1.0 else 'untreated'})")
    return found


def separation_message(found: Sequence[str]) -> SeparationError:
    """The error for a separated fit; ``found`` names the levels that predict treatment."""
    which = (
        f"these covariate levels predict treatment exactly: {', '.join(found)}"
        if found
        else "a combination of the covariates predicts treatment exactly"
    )
    return SeparationError(
        f"The propensity model is completely separated: {which}. The logistic maximum-likelihood "
        "estimate does not exist and those units have propensity 0 or 1, so there is no overlap "
        "for them. Drop or coarsen the offending covariate, restrict the sample to units that "
        "could receive either arm, or use estimand='ATO'."
    )


def _separation_error(X: np.ndarray, t: np.ndarray, names: Sequence[str]) -> SeparationError:
    return separation_message(_separating(X, t, names))


_WARM_ROWS = 250_000


def _start(X: np.ndarray, t: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Starting values: the fit on an evenly spaced subsample when there are many rows (so the
    full data need only one or two Newton passes), else the intercept-only fit."""
    n, k = X.shape
    coef = intercept_start(float(t.mean()), k)
    if n >= 4 * _WARM_ROWS:
        step = n // _WARM_ROWS
        try:
            return fit_logit(X[::step], t[::step], names=names, tol=1e-8).coef
        except (ConvergenceError, np.linalg.LinAlgError):
            return coef  # e.g. a rare level missing from the subsample: start from scratch
    return coef


PassFn = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray, float]]


def newton(
    pass_fn: PassFn,
    start: np.ndarray,
    *,
    on_separation: Callable[[], Exception],
    tol: float = 1e-10,
    max_iter: int = 50,
) -> LogitFit:
    """Newton–Raphson with step-halving over the sufficient statistics of one step.

    ``pass_fn(coef)`` returns the log-likelihood, the score ``X'(t - p)``, the Hessian ``X'WX``
    (intercept first) and max |x'b| at ``coef``: one pass over in-memory rows, or one aggregation
    inside a database engine. Both feeds run this same loop.
    """
    coef = np.asarray(start, dtype=float)
    loglik, grad, hess, eta_max = pass_fn(coef)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - reported after the loop
        step = _solve(hess, grad)
        if float(grad @ step) <= tol * (abs(loglik) + 1.0) and np.max(np.abs(step)) < 1e-4:
            # Newton decrement below tolerance: the last step changes nothing that matters and
            # the Hessian at ``coef`` is the one at the optimum to within O(|step|)
            coef = coef + step
            converged = True
            break
        for _ in range(30):
            new = coef + step
            new_ll, new_grad, new_hess, eta_max = pass_fn(new)
            if np.isfinite(new_ll) and new_ll >= loglik - 1e-9 * abs(loglik):
                break
            step = step / 2
        gain = new_ll - loglik
        coef, loglik, grad, hess = new, new_ll, new_grad, new_hess
        if eta_max > _ETA_MAX:
            raise on_separation()
        if abs(gain) <= tol * (abs(loglik) + 1.0) and np.max(np.abs(step)) < 1e-6:
            converged = True
            break
    if not converged:
        raise ConvergenceError(
            f"The logistic propensity model did not converge in {max_iter} Newton steps. "
            "Check for nearly collinear covariates or rescale them."
        )
    return LogitFit(coef=coef, hessian=hess, loglik=loglik, n_iter=n_iter, converged=converged)


def intercept_start(p: float, k: int) -> np.ndarray:
    """The intercept-only fit as a starting value: logit of the share ``p`` of ones."""
    p0 = float(np.clip(p, 1e-12, 1 - 1e-12))
    coef = np.zeros(k + 1)
    coef[0] = np.log(p0 / (1 - p0))
    return coef


def fit_logit(
    X: np.ndarray,
    t: np.ndarray,
    *,
    names: Sequence[str] = (),
    tol: float = 1e-10,
    max_iter: int = 50,
) -> LogitFit:
    """Unpenalized logistic MLE of ``t`` on ``[1, X]`` by Newton–Raphson with step-halving."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    return newton(
        lambda coef: _pass(X, t, coef),
        _start(X, t, names),
        on_separation=lambda: _separation_error(X, t, names),
        tol=tol,
        max_iter=max_iter,
    )


def auc(score: np.ndarray, t: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``t`` (Mann–Whitney, ties count one half).

    Exact (average ranks) up to 200,000 rows; above that the scores are binned on a grid of
    2**20 equal-width cells, which changes the AUC by less than the share of pairs sharing a cell.
    """
    n1 = float(t.sum())
    n0 = float(t.size - n1)
    if n1 == 0 or n0 == 0:
        return float("nan")
    if t.size <= AUC_EXACT_ROWS:
        from scipy.stats import rankdata

        ranks = rankdata(score)
        return float((ranks @ t - n1 * (n1 + 1) / 2) / (n1 * n0))
    lo, hi = float(score.min()), float(score.max())
    nb = AUC_CELLS
    idx = np.minimum(((score - lo) / max(hi - lo, 1e-300) * nb).astype(np.int64), nb - 1)
    c1 = np.bincount(idx, weights=t, minlength=nb)
    c0 = np.bincount(idx, minlength=nb) - c1
    return auc_from_bins(c1, c0)


def auc_from_bins(c1: np.ndarray, c0: np.ndarray) -> float:
    """AUC from counts of treated (``c1``) and untreated (``c0``) units per score cell, cells in
    increasing score order; pairs within a cell count one half."""
    n1, n0 = float(c1.sum()), float(c0.sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    below0 = np.cumsum(c0) - c0
    return float((c1 @ below0 + 0.5 * (c1 @ c0)) / (n1 * n0))
