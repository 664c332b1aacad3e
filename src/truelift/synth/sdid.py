"""Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021).

Algorithm 1 of the paper as the reference R package ``synthdid`` implements it: unit weights
``omega`` (with an intercept and a ridge penalty ``zeta_omega = (N1 T1)^(1/4) * sigma``) and time
weights ``lambda`` (intercept, ``zeta_lambda = 1e-6 * sigma``), where ``sigma`` is the standard
deviation of the controls' first differences over the pre-period; both solved by Frank-Wolfe on the
collapsed panel, once for 100 iterations, then again from the sparsified weights (weights at most a
quarter of the largest set to zero) until the decrease falls below ``(1e-5 sigma)^2``. The same
machinery with ``lambda = 0`` and no intercept is synthdid's synthetic control (``sc_estimate``),
and with uniform weights it is difference-in-differences (``did_estimate``).

Variance: the placebo variance (Algorithm 4; every donor in turn as the pseudo-treated unit, the
weights re-solved from the fitted ones) and the jackknife (Algorithm 3; fixed weights, one unit
left out at a time; needs two or more treated units).

Arrays: ``Y`` is ``N x T`` with the ``N0`` controls in the first rows and the ``T0`` pre-periods
in the first columns; the remaining rows are treated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from truelift.synth._simplex import fw_batch, fw_weights, sparsify

__all__ = [
    "SdidFit",
    "collapsed",
    "noise_level",
    "placebo_gaps",
    "sdid_fit",
    "sdid_jackknife",
    "sdid_placebo",
]

Kind = Literal["sdid", "sc", "did"]


@dataclass(frozen=True)
class SdidFit:
    """A fitted synthdid-family estimate: ``tau``, the weights and the tuning that produced them."""

    tau: float
    omega: np.ndarray
    lam: np.ndarray
    zeta_omega: float
    zeta_lambda: float
    noise: float
    kind: str


def noise_level(Y: np.ndarray, N0: int, T0: int) -> float:
    """Standard deviation of the controls' first differences over the pre-period (synthdid)."""
    d = np.diff(Y[:N0, :T0], axis=1)
    return float(np.std(d, ddof=1)) if d.size > 1 else 0.0


def collapsed(Y: np.ndarray, N0: int, T0: int) -> np.ndarray:
    """The ``(N0+1) x (T0+1)`` collapsed panel: treated rows and post columns averaged."""
    top = np.column_stack([Y[:N0, :T0], Y[:N0, T0:].mean(axis=1)])
    bottom = np.append(Y[N0:, :T0].mean(axis=0), Y[N0:, T0:].mean())
    return np.vstack([top, bottom])


def _solve(
    Yc: np.ndarray, zeta: float, intercept: bool, start: np.ndarray | None, min_dec: float
) -> np.ndarray:
    first = fw_weights(
        Yc, zeta, intercept=intercept, start=start, min_decrease=min_dec, max_iter=100
    )
    return fw_weights(
        Yc, zeta, intercept=intercept, start=sparsify(first), min_decrease=min_dec, max_iter=10_000
    )


def tau_of(Y: np.ndarray, N0: int, T0: int, omega: np.ndarray, lam: np.ndarray) -> float:
    """``(-omega, 1/N1)' Y (-lambda, 1/T1)``: the weighted double difference."""
    N, T = Y.shape
    row = np.concatenate([-omega, np.full(N - N0, 1.0 / (N - N0))])
    col = np.concatenate([-lam, np.full(T - T0, 1.0 / (T - T0))])
    return float(row @ Y @ col)


def sdid_fit(
    Y: np.ndarray,
    N0: int,
    T0: int,
    kind: Kind = "sdid",
    *,
    omega: np.ndarray | None = None,
    lam: np.ndarray | None = None,
    zeta_omega: float | None = None,
    zeta_lambda: float | None = None,
    noise: float | None = None,
    update: bool = True,
    n_treated: int | None = None,
) -> SdidFit:
    """synthdid's ``synthdid_estimate`` / ``sc_estimate`` / ``did_estimate`` on matrix ``Y``.

    ``omega``/``lam`` start the solver (or fix the weights when ``update`` is false); the tuning
    (``zeta_*``, ``noise``) is computed from ``Y`` unless given (the placebo passes the original).
    ``n_treated`` is the number of treated units behind the treated rows when those rows are
    already averaged (it sets ``zeta_omega`` as the full block would).
    """
    N, T = Y.shape
    N1, T1 = (N - N0 if n_treated is None else n_treated), T - T0
    sigma = noise_level(Y, N0, T0) if noise is None else noise
    eta_omega = 1e-6 if kind == "sc" else (N1 * T1) ** 0.25
    z_om = eta_omega * sigma if zeta_omega is None else zeta_omega
    z_la = 1e-6 * sigma if zeta_lambda is None else zeta_lambda
    min_dec = 1e-5 * sigma
    if kind == "did":
        om, la = np.full(N0, 1.0 / N0), np.full(T0, 1.0 / T0)
    else:
        Yc = collapsed(Y, N0, T0)
        if kind == "sc":
            la = np.zeros(T0)
        elif update:
            la = _solve(Yc[:N0, :], z_la, True, lam, min_dec)
        else:
            la = np.asarray(lam, dtype=float)
        if update:
            om = _solve(Yc[:, :T0].T, z_om, kind == "sdid", omega, min_dec)
        else:
            om = np.asarray(omega, dtype=float)
    return SdidFit(tau_of(Y, N0, T0, om, la), om, la, z_om, z_la, sigma, kind)


def _sum_normalize(x: np.ndarray) -> np.ndarray:
    s = x.sum()
    return x / s if s != 0 else np.full(x.size, 1.0 / x.size)


def _two_stage(
    G: np.ndarray,
    c: np.ndarray,
    bb: np.ndarray,
    n: float,
    zeta: float,
    start: np.ndarray,
    forbid: np.ndarray | None,
    min_dec: float,
) -> np.ndarray:
    first = fw_batch(G, c, bb, n, zeta, start, forbid=forbid, min_decrease=min_dec, max_iter=100)
    sp = np.vstack([sparsify(r) for r in first])
    return fw_batch(G, c, bb, n, zeta, sp, forbid=forbid, min_decrease=min_dec, max_iter=10_000)


def placebo_gaps(Y0: np.ndarray, T0: int, fit: SdidFit) -> np.ndarray:
    """Placebo gap paths (adjusted by the time-weighted pre-period gap): each control in turn is the treated unit, the others its donors.

    As synthdid's ``placebo_se`` with one pseudo-treated unit, enumerated over every control:
    the weights restart from the fitted ones (omega renormalised without the placebo unit) and
    are re-solved with the original tuning. All placebo problems are solved together
    (:func:`fw_batch`), their Gram matrices derived from one product over the donors.
    """
    N0 = Y0.shape[0]
    P = N0
    md = 1e-5 * fit.noise
    eye = np.eye(N0, dtype=bool)
    if fit.kind == "did":
        om = (~eye) / (N0 - 1.0)
        lam = np.tile(fit.lam, (P, 1))
    else:
        if fit.kind == "sc":
            lam = np.zeros((P, T0))
        else:  # lambda: rows = the other donors (centred over them), last column = post mean
            A = np.column_stack([Y0[:, :T0], Y0[:, T0:].mean(axis=1)])
            n = N0 - 1
            m = (A.sum(axis=0) - A) / n
            Gj = (A.T @ A)[None] - np.einsum("pi,pj->pij", A, A) - n * np.einsum("pi,pj->pij", m, m)
            lam = _two_stage(
                Gj[:, :T0, :T0],
                Gj[:, :T0, T0],
                Gj[:, T0, T0],
                n,
                fit.zeta_lambda,
                np.tile(fit.lam, (P, 1)),
                None,
                md,
            )
        B = Y0[:, :T0]
        if fit.kind == "sdid":
            B = B - B.mean(axis=1, keepdims=True)
        G = B @ B.T
        start = np.where(eye, 0.0, fit.omega[None, :])
        sums = start.sum(axis=1, keepdims=True)
        start = np.where(sums != 0, start / np.where(sums != 0, sums, 1.0), (~eye) / (N0 - 1.0))
        om = _two_stage(
            np.broadcast_to(G, (P, N0, N0)),
            G.copy(),
            np.diag(G).copy(),
            float(T0),
            fit.zeta_omega,
            start,
            eye,
            md,
        )
    gaps = Y0 - om @ Y0
    return gaps - np.einsum("pt,pt->p", lam, gaps[:, :T0])[:, None]


def sdid_placebo(Y0: np.ndarray, T0: int, fit: SdidFit) -> tuple[float, np.ndarray]:
    """Placebo standard error ``sqrt((r-1)/r) sd(tau_placebo)`` and the placebo estimates."""
    taus = placebo_gaps(Y0, T0, fit)[:, T0:].mean(axis=1)
    return float(np.std(taus, ddof=0)), taus


def sdid_jackknife(Y: np.ndarray, N0: int, T0: int, fit: SdidFit) -> float:
    """synthdid's jackknife standard error (fixed weights; NaN with one treated unit)."""
    N = Y.shape[0]
    if N - N0 < 2 or np.count_nonzero(fit.omega) == 1:
        return float("nan")
    u = np.empty(N)
    for i in range(N):
        keep = np.arange(N) != i
        n0 = N0 - (1 if i < N0 else 0)
        om = _sum_normalize(fit.omega[keep[:N0]])
        u[i] = tau_of(Y[keep], n0, T0, om, fit.lam)
    return float(np.sqrt((N - 1) / N * (N - 1) * np.var(u, ddof=1)))
