"""Goodman-Bacon (2021) decomposition of the two-way fixed-effects DiD coefficient.

With staggered (absorbing) adoption in a balanced panel and no covariates, the TWFE coefficient is
a weighted average of every 2x2 DiD between timing groups (Goodman-Bacon 2021, Theorem 1):
treated vs never treated, earlier- vs later-treated (the later group not yet treated is the
control), later- vs earlier-treated (the earlier group, already treated, is the control: the
"forbidden" comparison that turns effects growing over time into bias) and later- vs always-
treated. The weights are non-negative, sum to one, and depend on group sizes and on the variance
of treatment within each pair (units treated mid-panel get the most weight). Here they are
computed from the theorem's closed forms and checked to reproduce the TWFE coefficient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from truelift import _frame
from truelift.did._common import adoption, load_panel
from truelift.did._fe import demean, fe_ols
from truelift.errors import DataError, IdentificationError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate

__all__ = ["bacon"]

TYPES = (
    "treated vs never treated",
    "earlier vs later treated",
    "later vs earlier treated",
    "later vs always treated",
)


def _balanced(u: np.ndarray, tc: np.ndarray) -> tuple[int, int]:
    N, T = int(u.max()) + 1, int(tc.max()) + 1
    cell = np.bincount(u * T + tc, minlength=N * T)
    if u.size != N * T or np.any(cell != 1):
        raise DataError(
            "the Goodman-Bacon decomposition needs a balanced panel (every unit observed once in "
            f"every period); found {u.size:,} rows for {N:,} units x {T} periods. Restrict to a "
            "balanced sub-panel, or use did() (Callaway & Sant'Anna), which does not need one."
        )
    return N, T


def _mean(row: np.ndarray, lo: int, hi: int) -> float:
    return float(row[lo:hi].mean())


def decompose(
    ybar: np.ndarray, first: np.ndarray, share: np.ndarray, T: int, VD: float
) -> list[dict[str, Any]]:
    """Every 2x2 comparison with its weight (closed forms of Goodman-Bacon 2021, Theorem 1).

    ``ybar[j]`` is the mean outcome path of timing group j, ``first[j]`` its first treated period
    code (-1 never, 0 always treated), ``share[j]`` its share of units.
    """
    out: list[dict[str, Any]] = []
    Dbar = np.where(first < 0, 0.0, (T - first) / T)
    never = [j for j in range(first.size) if first[j] < 0]
    timing = [j for j in range(first.size) if first[j] > 0]
    for k in timing:
        fk = int(first[k])
        for u in never:
            nku = share[k] / (share[k] + share[u])
            s = (share[k] + share[u]) ** 2 * nku * (1 - nku) * Dbar[k] * (1 - Dbar[k]) / VD
            b = (_mean(ybar[k], fk, T) - _mean(ybar[k], 0, fk)) - (
                _mean(ybar[u], fk, T) - _mean(ybar[u], 0, fk)
            )
            out.append(_row(TYPES[0], first[k], first[u], b, s))
    for k in [j for j in range(first.size) if first[j] >= 0]:
        for m in timing:
            fk, fl = int(first[k]), int(first[m])
            if fk >= fl:
                continue
            nkl = share[k] / (share[k] + share[m])
            base = nkl * (1 - nkl) * (Dbar[k] - Dbar[m])
            if fk > 0:  # k treated while m not yet: window before fl
                s = ((share[k] + share[m]) * (1 - Dbar[m])) ** 2 * base / (1 - Dbar[m])
                s *= (1 - Dbar[k]) / (1 - Dbar[m]) / VD
                b = (_mean(ybar[k], fk, fl) - _mean(ybar[k], 0, fk)) - (
                    _mean(ybar[m], fk, fl) - _mean(ybar[m], 0, fk)
                )
                out.append(_row(TYPES[1], first[k], first[m], b, s))
            s = ((share[k] + share[m]) * Dbar[k]) ** 2 * base / Dbar[k] * (Dbar[m] / Dbar[k]) / VD
            b = (_mean(ybar[m], fl, T) - _mean(ybar[m], fk, fl)) - (
                _mean(ybar[k], fl, T) - _mean(ybar[k], fk, fl)
            )
            out.append(_row(TYPES[2] if fk > 0 else TYPES[3], first[m], first[k], b, s))
    return out


def _row(kind: str, treated: Any, control: Any, est: float, weight: float) -> dict[str, Any]:
    return {
        "type": kind,
        "treated": int(treated),
        "control": int(control),
        "estimate": float(est),
        "weight": float(weight),
    }


def _by_type(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for kind in TYPES:
        sel = [r for r in rows if r["type"] == kind]
        w = sum(r["weight"] for r in sel)
        if sel:
            avg = sum(r["weight"] * r["estimate"] for r in sel) / w if w > 0 else float("nan")
            out[kind] = {"weight": w, "estimate": avg, "n_comparisons": len(sel)}
    return out


def _forbidden_diag(by_type: dict[str, dict[str, float]]) -> Diagnostic:
    bad = sum(by_type[k]["weight"] for k in TYPES[2:] if k in by_type)
    return Diagnostic(
        name="already-treated controls",
        verdict="warn" if bad > 0 else "pass",
        value=float(bad),
        threshold="no weight on comparisons that use already-treated units as controls",
        message=(
            f"{100 * bad:.1f}% of the TWFE weight comes from comparisons whose controls were "
            "already treated; if effects change with time since adoption these comparisons are "
            "biased (possibly of the wrong sign). Prefer did() (Callaway & Sant'Anna)."
            if bad > 0
            else "no comparison uses already-treated units as controls."
        ),
        consequence="none",
    )


def bacon(
    data: Any,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Decompose the TWFE coefficient of ``treatment`` into its 2x2 comparisons.

    Needs a balanced panel, absorbing binary treatment and no covariates. The returned estimate is
    the TWFE coefficient (CR1 SE clustered by unit); ``details["comparisons"]`` lists every 2x2
    DiD with its type, treated and control timing groups (first treated period; -1 never, and
    the first period for always treated), estimate and weight; ``details["by_type"]`` sums them.
    """
    cols, codes, levels = load_panel(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome},
        keys={"unit": unit, "time": time},
        missing=missing,
    )
    y, d, u, tc = cols["outcome"], cols["treatment"], codes["unit"], codes["time"]
    N, T = _balanced(u, tc)
    first, absorbing = adoption(u, tc, d)
    if not absorbing:
        raise DataError(
            f"Treatment {treatment!r} switches off for some units; the Goodman-Bacon "
            "decomposition (and did()) needs absorbing adoption: once treated, always treated."
        )
    groups = np.unique(first)
    if groups[groups > 0].size == 0:
        raise IdentificationError(
            "no unit adopts treatment within the panel; nothing to decompose."
        )
    gidx = np.searchsorted(groups, first)
    share = np.bincount(gidx, minlength=groups.size) / N
    sums = np.zeros((groups.size, T))
    np.add.at(sums, (gidx[u], tc), y)
    ybar = sums / (share[:, None] * N)
    fit = fe_ols(y, d[:, None], [u, tc], u)
    xt = demean(d, [u, tc])
    rows = decompose(ybar, groups, share, T, float(np.mean(xt**2)))
    times = levels["time"]
    for r in rows:  # period codes -> the time labels users know
        for key in ("treated", "control"):
            r[key] = None if r[key] < 0 else times[r[key]].item()
    by_type = _by_type(rows)
    est, se = float(fit.coef[0]), float(fit.se[0])
    lo, hi, p = interval(est, se, conf_level, df=fit.n_clusters - 1)
    recon = sum(r["weight"] * r["estimate"] for r in rows)
    return Estimate(
        estimate=est,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=p,
        n_obs=cols.n_obs,
        n_dropped=cols.n_dropped,
        estimand=f"TWFE coefficient of {treatment} on {outcome}, decomposed into 2x2 comparisons",
        method="Goodman-Bacon decomposition of TWFE",
        params={
            "design": "did",
            "estimator": "bacon",
            "outcome": outcome,
            "unit": unit,
            "time": time,
            "treatment": treatment,
            "cluster": unit,
        },
        diagnostics=(_forbidden_diag(by_type),),
        inference=f"TWFE cluster-robust (CR1) by {unit}, t({fit.n_clusters - 1})",
        details={
            "comparisons": rows,
            "by_type": by_type,
            "weight_sum": sum(r["weight"] for r in rows),
            "twfe_from_decomposition": recon,
        },
    )
