"""``rdd()``: regression discontinuity with robust bias-corrected inference.

Calonico, Cattaneo & Titiunik (2014, Econometrica) local polynomial estimation and robust
bias-corrected confidence intervals; Calonico, Cattaneo & Farrell (2018, 2020) CER-optimal
bandwidths; Calonico, Cattaneo, Farrell & Titiunik (2019) covariate adjustment; fuzzy RD as the
ratio of the outcome and treatment jumps. Numbers reproduce the rdrobust package (v2.x).

Sign convention: rdrobust reports the limit from the right (x >= cutoff) minus the limit from the
left. truelift reports the effect of being on the *treated* side: with ``treated_side="above"``
(the default) that is right minus left, as rdrobust; with ``treated_side="below"`` (e.g. a router
that sends queries with confidence below 0.85 to a premium model) it is left minus right, i.e.
rdrobust's numbers with the sign flipped. A fuzzy estimate (a ratio of two jumps) does not
depend on the side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.engines import lazy_frame
from truelift.errors import DataError, DesignError
from truelift.rdd._core import RDSpec, rd_arrays
from truelift.rdd._engine import rd_lazy
from truelift.rdd._engine_diagnostics import lazy_diagnostics
from truelift.rdd._fit import RDFit
from truelift.rdd._order import sort_rows
from truelift.rdd.diagnostics import run_diagnostics
from truelift.result import Diagnostic, Estimate

__all__ = ["rdd"]

Kernel = Literal["triangular", "epanechnikov", "uniform"]
Selector = Literal["mserd", "msetwo", "cerrd", "certwo"]
VceName = Literal["nn", "hc0", "hc1", "hc2", "hc3"]

_KERNELS = ("triangular", "epanechnikov", "uniform")
_SELECTORS = ("mserd", "msetwo", "cerrd", "certwo")
_VCES = ("nn", "hc0", "hc1", "hc2", "hc3")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DesignError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")


def _bw_value(name: str, v: Any) -> float | tuple[float, float]:
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if len(vals) not in (1, 2) or not all(
        isinstance(a, (int, float)) and np.isfinite(a) and a > 0 for a in vals
    ):
        raise DesignError(
            f"{name} must be a positive number, a (left, right) pair of them, or one of "
            f"{', '.join(map(repr, _SELECTORS))}; got {v!r}."
        )
    return float(vals[0]) if len(vals) == 1 else (float(vals[0]), float(vals[1]))


def _spec(
    p: int,
    q: int | None,
    kernel: str,
    bandwidth: Any,
    b: Any,
    vce: str,
    nnmatch: int,
    masspoints: str,
    conf_level: float,
    clustered: bool,
) -> RDSpec:
    _choice("kernel", kernel, _KERNELS)
    _choice("vce", vce, _VCES)
    _choice("masspoints", masspoints, ("adjust", "off"))
    if not (isinstance(p, int) and 0 <= p <= 8):
        raise DesignError(f"p must be an integer between 0 and 8; got {p!r}.")
    q = p + 1 if q is None else q
    if not (isinstance(q, int) and q > p):
        raise DesignError(f"q must be an integer greater than p = {p}; got {q!r}.")
    if not (isinstance(nnmatch, int) and nnmatch >= 1):
        raise DesignError(f"nnmatch must be a positive integer; got {nnmatch!r}.")
    if not 0 < conf_level < 1:
        raise DesignError(f"conf_level must lie strictly between 0 and 1; got {conf_level}.")
    bw: Any = bandwidth if isinstance(bandwidth, str) else _bw_value("bandwidth", bandwidth)
    if isinstance(bw, str):
        _choice("bandwidth", bw, _SELECTORS)
    bb = None if b is None else _bw_value("b", b)
    if bb is not None and isinstance(bw, str):
        raise DesignError("b can only be given together with a fixed bandwidth h.")
    if clustered:
        if vce in ("hc2", "hc3"):
            raise DesignError(
                f"vce={vce!r} with cluster= would need the CR2/CR3 corrections, which truelift "
                "does not implement; use vce='hc1' (CR1, as rdrobust's default with clusters)."
            )
        vce = "hc1"
    return RDSpec(
        p=p,
        q=q,
        kernel=kernel,
        bandwidth=bw,
        b=bb,
        vce=vce,
        nnmatch=nnmatch,
        masspoints=masspoints,
        conf_level=conf_level,
    )


def _params(fit: RDFit, spec: RDSpec, sign: float, info: dict[str, Any], **extra: Any) -> dict:
    lo_cl, hi_cl = fit.ci("conventional")
    lo_bc, hi_bc = fit.ci("bias-corrected")

    def flip(lo: float, hi: float) -> list[float]:
        return sorted([sign * lo, sign * hi])

    return {
        "design": "rdd",
        **extra,
        "p": spec.p,
        "q": spec.q,
        "kernel": spec.kernel,
        "bandwidth_selector": spec.bandwidth if isinstance(spec.bandwidth, str) else "manual",
        "h_left": fit.h[0],
        "h_right": fit.h[1],
        "b_left": fit.b[0],
        "b_right": fit.b[1],
        "vce": "cr1" if extra.get("cluster") else spec.vce,
        "nnmatch": spec.nnmatch,
        "masspoints": spec.masspoints,
        "mass_points_detected": bool(info.get("mass_points")),
        "n_left": fit.n[0],
        "n_right": fit.n[1],
        "n_effective_left": fit.n_h[0],
        "n_effective_right": fit.n_h[1],
        "n_bias_left": fit.n_b[0],
        "n_bias_right": fit.n_b[1],
        "estimate_conventional": sign * fit.tau_cl,
        "se_conventional": fit.se_cl,
        "ci_conventional": flip(lo_cl, hi_cl),
        "estimate_bias_corrected": sign * fit.tau_bc,
        "se_robust": fit.se_rb,
        "ci_bias_corrected": flip(lo_bc, hi_bc),
        "p_value_conventional": fit.p_value("conventional"),
        "first_stage": fit.tau_t,
        "first_stage_se_robust": fit.se_t_rb,
    }


def _details(fit: RDFit, c: float, bins: Any, sign: float) -> dict[str, Any]:
    return {
        "cutoff": c,
        "sign": sign,
        "poly_left": fit.beta_left.tolist(),
        "poly_right": fit.beta_right.tolist(),
        "h": list(fit.h),
        "bins": bins,
    }


def _donut_mask(x: np.ndarray, c: float, donut: float) -> np.ndarray | slice:
    if donut <= 0:
        return slice(None)
    keep = np.abs(x - c) >= donut
    if keep.sum() < 10:
        raise DataError(f"donut={donut} leaves only {int(keep.sum())} observations.")
    return keep


def _estimand(outcome: str, running: str, treatment: str | None, c: float, sign: float) -> str:
    if treatment is None:
        side = "below" if sign < 0 else "at or above"
        return f"local average effect at {running} = {c:g} of being {side} the cutoff on {outcome}"
    return (
        f"local average effect of {treatment} on {outcome} for compliers at {running} = {c:g} "
        "(ratio of the jumps in outcome and treatment)"
    )


def rdd(
    data: Any,
    *,
    outcome: str,
    running: str,
    cutoff: float,
    treatment: str | None = None,
    treated_side: Literal["above", "below"] = "above",
    p: int = 1,
    q: int | None = None,
    kernel: Kernel = "triangular",
    bandwidth: Selector | float | tuple[float, float] = "mserd",
    b: float | tuple[float, float] | None = None,
    covariates: list[str] | None = None,
    cluster: str | None = None,
    vce: VceName = "nn",
    nnmatch: int = 3,
    donut: float = 0.0,
    masspoints: Literal["adjust", "off"] = "adjust",
    diagnostics: bool = True,
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> Estimate:
    """Regression discontinuity at ``cutoff`` of ``running`` (rdrobust's estimator).

    ``estimate`` is the conventional local polynomial estimate of order ``p``; ``ci_low``/
    ``ci_high`` the robust bias-corrected interval (bias fit of order ``q`` at bandwidth ``b``);
    ``std_error`` the robust standard error (the SE of the bias-corrected estimate, so the
    interval is centred on ``params["estimate_bias_corrected"]``, not on ``estimate``);
    ``p_value`` the robust p-value. ``treatment=`` makes the design fuzzy (effect on compliers:
    jump in outcome over jump in treatment). ``treated_side`` sets the sign (see module notes).
    ``donut`` drops observations with |running - cutoff| < donut. ``cluster`` gives CR1 SEs.
    With ``diagnostics=True`` the result carries the density test (a failure blocks the
    headline), covariate continuity, placebo cutoffs, bandwidth sensitivity and a donut check.

    ``data`` is a pandas, polars or pyarrow frame (never modified) or a lazy table (DuckDB
    relation, polars LazyFrame, PySpark DataFrame). On a lazy table every sum the estimator needs
    is computed in the engine and only those sums leave it (``params["engine"]``,
    ``details["transferred"]``); ``vce="nn"``, ``"hc2"`` and ``"hc3"`` need rows and collect only
    those inside the widest kernel window of a fit, and say so.
    """
    _choice("treated_side", treated_side, ("above", "below"))
    spec = _spec(
        p, q, kernel, bandwidth, b, vce, nnmatch, masspoints, conf_level, cluster is not None
    )
    if not (isinstance(donut, (int, float)) and donut >= 0):
        raise DesignError(f"donut must be a non-negative number; got {donut!r}.")
    c = float(cutoff)
    lf = lazy_frame(data)
    if lf is not None:
        run = rd_lazy(
            lf,
            outcome=outcome,
            running=running,
            cutoff=c,
            treatment=treatment,
            covariates=covariates,
            cluster=cluster,
            spec=spec,
            donut=float(donut),
            missing=missing,
        )
        sign = -1.0 if (treated_side == "below" and treatment is None) else 1.0
        diags: tuple[Diagnostic, ...] = ()
        sent = run.transferred
        if diagnostics:
            diags, sent_diag = lazy_diagnostics(lf, run, spec, sign, running=running, outcome=outcome,
                                     treatment=treatment, covariates=run.covariates,
                                     cluster=cluster, cutoff=c, donut=float(donut),
                                     missing=missing)  # fmt: skip
            sent = f"estimate: {sent}. Diagnostics: {sent_diag}"
        frame = _Frame(run.n_obs, run.n_dropped, run.covariates, run.engine, sent)
        return _result(run.fit, run.info, spec, sign, frame, diags, outcome, running,
                       treatment, treated_side, cluster, c, float(donut), conf_level)  # fmt: skip
    cols = _frame.load(
        data,
        numeric={"outcome": outcome, "running": running},
        binary={"treatment": treatment},
        keys={"cluster": cluster},
        covariates=covariates,
        missing=missing,
    )
    x = cols["running"]
    keep = _donut_mask(x, c, float(donut))
    sub = lambda a: None if a is None else a[keep]  # noqa: E731
    xk, yk = x[keep], cols["outcome"][keep]
    t = sub(cols["treatment"] if treatment is not None else None)
    z = sub(cols.X if covariates else None)
    cl = sub(cols["cluster"] if cluster is not None else None)
    # sorted once by the running variable, for the fit and every diagnostic refit
    order, xk, yk = sort_rows(xk, yk)
    t, z, cl = (None if a is None else np.take(a, order, axis=0) for a in (t, z, cl))
    fit, info = rd_arrays(xk, yk, c, spec, t=t, z=z, cl=cl, presorted=True)
    sign = -1.0 if (treated_side == "below" and t is None) else 1.0
    diags = ()
    if diagnostics:
        names = list(cols.X_names)
        diags = run_diagnostics(x, xk, yk, c, spec, fit, t=t, z=z, cl=cl, names=names,
                                sign=sign, presorted=True)  # fmt: skip
    frame = _Frame(int(xk.size), cols.n_dropped, list(cols.X_names), "in-memory", None)
    return _result(fit, info, spec, sign, frame, diags, outcome, running, treatment,
                   treated_side, cluster, c, float(donut), conf_level)  # fmt: skip


@dataclass(frozen=True)
class _Frame:
    """What the data path found: sizes, covariates kept, engine and what left it."""

    n_obs: int
    n_dropped: int
    covariates: list[str]
    engine: str
    transferred: str | None


def _result(fit: RDFit, info: dict, spec: RDSpec, sign: float, frame: _Frame,
            diags: tuple[Diagnostic, ...], outcome: str, running: str, treatment: str | None,
            treated_side: str, cluster: str | None, c: float, donut: float,
            conf_level: float) -> Estimate:  # fmt: skip
    lo, hi = sorted([sign * v for v in fit.ci("robust")])
    fuzzy = treatment is not None
    details = _details(fit, c, info["bins"], sign)
    if frame.transferred is not None:
        details["transferred"] = frame.transferred
    return Estimate(
        estimate=sign * fit.tau_cl,
        std_error=fit.se_rb,
        ci_low=lo,
        ci_high=hi,
        conf_level=conf_level,
        p_value=fit.p_value("robust"),
        n_obs=frame.n_obs,
        n_dropped=frame.n_dropped,
        estimand=_estimand(outcome, running, treatment, c, sign),
        method=f"{'fuzzy' if fuzzy else 'sharp'} regression discontinuity, local polynomial "
        f"p={spec.p} ({spec.kernel} kernel)" + (", covariate-adjusted" if frame.covariates else ""),
        params=_params(
            fit,
            spec,
            sign,
            info,
            outcome=outcome,
            running=running,
            cutoff=c,
            treatment=treatment,
            treated_side=treated_side,
            fuzzy=fuzzy,
            covariates=frame.covariates,
            cluster=cluster,
            donut=donut,
            engine=frame.engine,
        ),
        diagnostics=diags,
        inference="robust bias-corrected (Calonico-Cattaneo-Titiunik 2014): estimate is the "
        "conventional estimate; std_error, CI and p-value are robust",
        details=details,
    )
