"""Instrumental variables: randomized access, voluntary use (ITT, complier share, LATE) and 2SLS.

When access to a feature is randomized but using it is voluntary, the comparison of users with and
without access is the intent-to-treat effect (ITT); the share of users whose use the access
changed is the first stage (the complier share, under monotonicity); their ratio is the Wald
estimator of the local average treatment effect on compliers (LATE; Imbens & Angrist 1994;
Angrist, Imbens & Rubin 1996). With covariates, several instruments or a continuous treatment the
same quantity is the two-stage least-squares coefficient (2SLS; Wooldridge 2010, ch. 5).

Inference. Heteroskedasticity-robust (HC0/HC1) or cluster-robust (CR1) sandwich variances, or the
classical homoskedastic one for textbook parity. Instrument strength is judged by the effective F
of Montiel Olea & Pflueger (2013) against their simplified critical value for a 10 % worst-case
bias of 2SLS at the 5 % level (23.1 with one instrument). When the instrument is weak the headline
interval switches to the Anderson & Rubin (1949) confidence set, obtained by inverting the
(robust) AR test; it is valid whatever the instrument's strength and may be a bounded interval,
the union of two half-lines, or the whole line (Dufour 1997; Andrews, Stock & Sun 2019).

Statistics are computed on the covariates-partialled-out variables (Frisch–Waugh–Lovell), which
gives the same coefficient, residuals and sandwich variance as the full regression; the array
kernels live in :mod:`truelift._iv_kernels`. Over-identification: Sargan (1958), Wooldridge (1995).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from truelift import _frame
from truelift._iv_kernels import (
    _TSLS,
    _VCES,
    VCE,
    WEAK_ALPHA,
    WEAK_BIAS_TAU,
    _anderson_rubin_set,
    _ar_stat,
    _overid,
    _partial_out,
    _set_text,
    _Stage,
    _stages,
    _strength,
    _tsls,
)
from truelift._iv_moments import arms_from_moments, gram_moments, stages_from_moments
from truelift.engines import engine_name, lazy_frame
from truelift.errors import ColumnNotFoundError, DataError, DesignError
from truelift.inference import interval
from truelift.result import Diagnostic, Estimate, EstimateSet

__all__ = ["iv"]


def _overid_diagnostic(stat: float, q: int, vce: str, clustered: bool) -> Diagnostic:
    p = float(stats.chi2.sf(stat, q))
    name = "Sargan" if vce == "classical" and not clustered else "Wooldridge robust score"
    ok = p >= 0.05
    msg = f"{name} over-identification test: chi2({q}) = {stat:.3f}, p = {p:.3g}."
    if not ok:
        msg += (
            " The instruments point to different effects: at least one violates the exclusion "
            "restriction, or the effect differs across the users each instrument moves (then "
            "2SLS is a weighted mix of those local effects). Estimate with each instrument alone "
            "and compare."
        )
    return Diagnostic(
        name="over-identification",
        verdict="pass" if ok else "warn",
        value=p,
        threshold="p >= 0.05",
        message=msg,
        consequence="none",
        details={"statistic": stat, "df": q, "test": name},
    )


# ---------------------------------------------------------------------------- public estimator


def _load(
    data: Any,
    outcome: str,
    treatment: str,
    instruments: list[str],
    covariates: Sequence[str] | None,
    cluster: str | None,
    missing: _frame.MissingPolicy,
) -> _frame.Columns:
    roles = {"outcome": outcome, "treatment": treatment}
    roles.update({_inst_role(i): z for i, z in enumerate(instruments)})
    return _frame.load(
        data,
        numeric=roles,
        keys={"cluster": cluster},
        covariates=covariates,
        missing=missing,
        nonconstant=tuple(roles),
        require_both=(),
    )


def _inst_role(i: int) -> str:
    return "instrument" if i == 0 else f"instrument {i + 1}"


def _validate(instrument: str | Sequence[str], vce: str, treatment: str, outcome: str) -> list[str]:
    if vce not in _VCES:
        raise DesignError(f"vce must be one of {', '.join(repr(v) for v in _VCES)}; got {vce!r}.")
    instruments = [instrument] if isinstance(instrument, str) else list(instrument)
    if not instruments:
        raise DesignError("instrument must name at least one column.")
    if len(set(instruments)) != len(instruments):
        raise DesignError(f"instruments contain duplicates: {instruments}.")
    clash = {treatment, outcome} & set(instruments)
    if clash:
        raise DesignError(
            f"{sorted(clash)} cannot be both an instrument and the treatment/outcome; an "
            "instrument is a separate column that shifts the treatment (e.g. randomized access)."
        )
    return instruments


def iv(
    data: Any,
    *,
    outcome: str,
    treatment: str,
    instrument: str | Sequence[str],
    covariates: Sequence[str] | None = None,
    cluster: str | None = None,
    vce: VCE = "hc1",
    conf_level: float = 0.95,
    missing: _frame.MissingPolicy = "raise",
) -> EstimateSet:
    """Instrumental-variables estimate of the effect of ``treatment`` on ``outcome``.

    Args:
        data: a pandas, polars or pyarrow table (never modified), or a lazy table (DuckDB
            relation, polars LazyFrame, Spark DataFrame): with one instrument and no
            covariates the statistics are aggregated inside the engine (the means of the
            outcome and the treatment, then 30 sums, plus 7 per cluster when clustered; no rows
            moved); otherwise the needed columns are collected,
            and ``params["engine"]`` says so.
        outcome: numeric outcome column.
        treatment: the (endogenous) treatment actually taken: binary use of a feature, or numeric.
        instrument: one column (e.g. randomized ``access``) or several.
        covariates: exogenous controls (categorical ones are one-hot encoded).
        cluster: cluster column for CR1 standard errors (overrides ``vce``).
        vce: ``"hc1"`` (default), ``"hc0"`` or ``"classical"`` (homoskedastic, textbook parity).
        conf_level: confidence level of the intervals.
        missing: ``"raise"`` (default) or ``"drop"`` rows with a missing value.

    Returns:
        An :class:`EstimateSet` whose headline is the causal effect. With one binary instrument
        and a binary treatment (randomized access, voluntary use) its labels are ``"ITT"``,
        ``"first stage (complier share)"`` and ``"LATE"`` (headline); with one other instrument
        ``"reduced form"``, ``"first stage"`` and ``"2SLS"``; with several instruments only
        ``"2SLS"`` (first-stage coefficients are in ``details``). When the effective F is below
        the Montiel Olea–Pflueger critical value, the headline's interval and p-value are the
        Anderson–Rubin ones (``details["ar_set"]`` lists its pieces) and the headline is
        downgraded.
    """
    instruments = _validate(instrument, vce, treatment, outcome)
    if conf_level <= 0 or conf_level >= 1:
        raise DesignError(f"conf_level must lie strictly between 0 and 1; got {conf_level}.")
    spec = _Spec(outcome, treatment, instruments, list(covariates or []), cluster, vce, conf_level)
    lf = lazy_frame(data)
    if lf is not None:
        if not covariates and len(instruments) == 1:
            return _lazy(lf, spec, missing)
        needed = list(dict.fromkeys([outcome, treatment, *instruments, *spec.covariates]))
        needed += [cluster] if cluster is not None and cluster not in needed else []
        engine = f"{engine_name(lf)} (rows collected: covariates or several instruments)"
        return _in_memory(_collect(lf, needed), spec, missing, engine)
    return _in_memory(data, spec, missing, "in-memory")


@dataclass(frozen=True)
class _Spec:
    outcome: str
    treatment: str
    instruments: list[str]
    covariates: list[str]
    cluster: str | None
    vce: str
    conf_level: float


def _collect(lf: Any, needed: list[str]) -> Any:
    """Rows of the needed columns from a lazy table (covariates / clusters / several instruments)."""
    schema = list(lf.collect_schema().names())
    for name in needed:
        if name not in schema:
            close = _frame.closest_columns(name, schema)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ColumnNotFoundError(f"Column {name!r} not found.{hint}")
    return lf.select(needed).collect().to_native()


def _in_memory(data: Any, spec: _Spec, missing: _frame.MissingPolicy, engine: str) -> EstimateSet:
    cols = _load(
        data, spec.outcome, spec.treatment, spec.instruments, spec.covariates or None,
        spec.cluster, missing,
    )  # fmt: skip
    y, d = cols["outcome"], cols["treatment"]
    Z = np.column_stack([cols[_inst_role(i)] for i in range(len(spec.instruments))])
    W = np.column_stack([np.ones(cols.n_obs), cols.X])
    if cols.n_obs <= W.shape[1] + Z.shape[1] + 1:
        raise DataError(
            f"{cols.n_obs} observations cannot identify {W.shape[1] + Z.shape[1]} first-stage "
            "coefficients; the design needs more rows."
        )
    cl = cols["cluster"] if spec.cluster is not None else None
    M = _partial_out(W, np.column_stack([y, d, Z]))
    yt, dt, Zt = M[:, 0], M[:, 1], M[:, 2:]
    z_ss = ((Z - Z.mean(axis=0)) ** 2).sum(axis=0)
    st = _stages(yt, dt, Zt, W.shape[1], spec.vce, cl, z_ss)
    fit = _tsls(yt, dt, Zt, st, spec.vce, cl)
    binary = len(spec.instruments) == 1 and _is01(d) and _is01(Z[:, 0])
    extra: dict[str, Any] = {}
    if binary:
        extra["arms"] = _arms(y, d, Z[:, 0])
        extra["complier_profile"] = _complier_profile(cols.X, cols.X_names, d, Z[:, 0])
    n_g = int(cl.max()) + 1 if cl is not None else 0
    ctx = _Context.of(spec, cols.n_obs, cols.n_dropped, cl, n_g, engine)
    return _assemble(ctx, st, fit, binary, extra, Zt)


def _lazy(lf: Any, spec: _Spec, missing: _frame.MissingPolicy) -> EstimateSet:
    """Aggregation in the engine (one instrument, no covariates; per-cluster sums if clustered)."""
    names = {"instrument": spec.instruments[0], "outcome": spec.outcome}
    names["treatment"] = spec.treatment
    m = gram_moments(lf, missing=missing, cluster=spec.cluster, **names)
    st, fit = stages_from_moments(m, spec.vce, names)
    binary = m.nonbinary["instrument"] == 0 and m.nonbinary["treatment"] == 0
    extra: dict[str, Any] = {}
    if binary:
        extra = {"arms": arms_from_moments(m), "complier_profile": {}}
    n_g = 0 if m.S is None else m.S.shape[0]
    ctx = _Context.of(spec, m.n, m.n_dropped, None, n_g, engine_name(lf))
    return _assemble(ctx, st, fit, binary, extra, None)


def _is01(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


@dataclass(frozen=True)
class _Context(_Spec):
    """The call's options plus what the data path found (sizes, clusters, engine)."""

    n_obs: int
    n_dropped: int
    cl: np.ndarray | None  # cluster codes (in-memory path)
    n_clusters: int
    engine: str  # "in-memory" or the lazy engine that aggregated the data

    @classmethod
    def of(
        cls, spec: _Spec, n_obs: int, n_dropped: int, cl: Any, n_g: int, engine: str
    ) -> _Context:
        return cls(**vars(spec), n_obs=n_obs, n_dropped=n_dropped, cl=cl, n_clusters=n_g,
                   engine=engine)  # fmt: skip

    @property
    def vce_text(self) -> str:
        if self.cluster is not None:
            return f"cluster-robust (CR1, {self.n_clusters} clusters of {self.cluster!r})"
        return {"hc1": "robust (HC1)", "hc0": "robust (HC0)", "classical": "classical"}[self.vce]

    def params(self, binary: bool) -> dict[str, Any]:
        return {
            "design": "iv",
            "outcome": self.outcome,
            "treatment": self.treatment,
            "instrument": self.instruments,
            "covariates": self.covariates,
            "cluster": self.cluster,
            "vce": self.vce if self.cluster is None else "cluster",
            "conf_level": self.conf_level,
            "binary_access": binary,
            "weak_bias_tau": WEAK_BIAS_TAU,
            "engine": self.engine,
        }


def _strength_diagnostic(s: dict[str, float], k: int, vce_text: str) -> Diagnostic:
    weak = s["F_eff"] < s["critical_value"]
    msg = (
        f"Effective first-stage F = {s['F_eff']:.1f} ({vce_text}; {k} instrument(s)) against the "
        f"critical value {s['critical_value']:.1f} for a worst-case 2SLS bias of "
        f"{100 * WEAK_BIAS_TAU:g}% at the {100 * WEAK_ALPHA:g}% level."
    )
    if weak:
        msg += (
            " The instrument is weak: 2SLS is biased towards the naive comparison and its normal "
            "interval undercovers, so the headline interval and p-value are the Anderson–Rubin "
            "ones (valid whatever the strength). Get a stronger instrument (more take-up, a larger "
            "sample) before trusting the point estimate."
        )
    return Diagnostic(
        name="instrument strength",
        verdict="fail" if weak else "pass",
        value=s["F_eff"],
        threshold=f"effective F >= {s['critical_value']:.1f} (Montiel Olea & Pflueger 2013)",
        message=msg,
        consequence="downgrade",
        details={"first_stage_F": s["F"], "K_eff": s["K_eff"]},
    )


def _ar_curve(st: _Stage, fit: _TSLS, pieces: list[tuple[float, float]]) -> dict[str, Any]:
    finite = [x for p in pieces for x in p if np.isfinite(x)] + [fit.beta]
    lo, hi = min(finite), max(finite)
    half = max(hi - lo, 4 * fit.se, 1e-6)
    b = np.linspace(lo - 0.5 * half, hi + 0.5 * half, 201)
    return {"b": b.tolist(), "stat": _ar_stat(st, b).tolist()}


def _headline(
    ctx: _Context, st: _Stage, fit: _TSLS, weak: bool, pieces: list[tuple[float, float]]
) -> tuple[float, float, float, float, str]:
    """(std_error, ci_low, ci_high, p_value, inference text) of the causal headline."""
    k = st.pi.size
    ar_text = _set_text(pieces)
    if not weak:
        lo, hi, p = interval(fit.beta, fit.se, ctx.conf_level)
        text = (
            f"2SLS, {ctx.vce_text} standard error, normal interval; Anderson–Rubin "
            f"{100 * ctx.conf_level:g}% set (robust to weak instruments): {ar_text}"
        )
        return fit.se, lo, hi, p, text
    p_ar = float(stats.chi2.sf(_ar_stat(st, np.array([0.0]))[0], k))
    if pieces:
        lo, hi = min(p[0] for p in pieces), max(p[1] for p in pieces)
    else:
        lo = hi = float("nan")
    text = (
        f"weak instrument: Anderson–Rubin {100 * ctx.conf_level:g}% confidence set by test "
        f"inversion ({ctx.vce_text}): {ar_text}; ci_low/ci_high give its hull; the p-value is the "
        f"AR test of no effect; no standard error (2SLS se {fit.se:.4g} is not reliable)"
    )
    return float("nan"), float(lo), float(hi), p_ar, text


def _make(
    ctx: _Context, est: float, se: float, lo: float, hi: float, p: float, **kw: Any
) -> Estimate:
    return Estimate(
        estimate=float(est),
        std_error=float(se),
        ci_low=float(lo),
        ci_high=float(hi),
        conf_level=ctx.conf_level,
        p_value=float(p),
        n_obs=ctx.n_obs,
        n_dropped=ctx.n_dropped,
        **kw,
    )


def _wald(ctx: _Context, est: float, se: float, **kw: Any) -> Estimate:
    lo, hi, p = interval(est, se, ctx.conf_level)
    return _make(
        ctx, est, se, lo, hi, p, inference=f"{ctx.vce_text} standard error, normal interval", **kw
    )


def _arms(y: np.ndarray, d: np.ndarray, z: np.ndarray) -> dict[str, Any]:
    """Raw counts, take-up and outcome means by access arm (for plots and the compliance table)."""
    out: dict[str, Any] = {}
    for arm, mask in (("access", z == 1), ("no access", z == 0)):
        out[arm] = {
            "n": int(mask.sum()),
            "take_up": float(d[mask].mean()),
            "mean_outcome": float(y[mask].mean()),
        }
    at = out["no access"]["take_up"]
    nt = 1 - out["access"]["take_up"]
    out["shares"] = {"always_takers": at, "never_takers": nt, "compliers": 1 - at - nt}
    return out


def _complier_profile(
    X: np.ndarray, names: tuple[str, ...], d: np.ndarray, z: np.ndarray
) -> dict[str, dict[str, float]]:
    """Covariate means among compliers vs all users (Angrist & Pischke 2009, sec. 4.4.4).

    Under monotonicity E[X | complier] = (E[X D | Z=1] - E[X D | Z=0]) / (E[D | Z=1] - E[D | Z=0]).
    """
    on, off = z == 1, z == 0
    share = float(d[on].mean() - d[off].mean())
    if X.shape[1] == 0 or share == 0:
        return {}
    xd = X * d[:, None]
    comp = (xd[on].mean(axis=0) - xd[off].mean(axis=0)) / share
    return {
        name: {"compliers": float(c), "all": float(a)}
        for name, c, a in zip(names, comp, X.mean(axis=0), strict=True)
    }


def _components(ctx: _Context, st: _Stage, binary: bool) -> list[tuple[str, Estimate]]:
    """The ITT / reduced form and the first stage (one instrument only)."""
    if st.pi.size > 1:
        return []
    z, d, y = ctx.instruments[0], ctx.treatment, ctx.outcome
    adj = " (regression-adjusted)" if ctx.covariates else ""
    if binary:
        rf_label, fs_label = "ITT", "first stage (complier share)"
        rf_est = f"intent-to-treat: effect of being given access ({z} = 1) on mean {y}, used or not"
        fs_est = (
            f"complier share: increase in the share using {d} caused by access ({z} = 1), under "
            "monotonicity (no one uses it because access was withheld)"
        )
    else:
        rf_label, fs_label = "reduced form", "first stage"
        rf_est = f"reduced form: change in mean {y} per unit of {z}"
        fs_est = f"first stage: change in mean {d} per unit of {z}"
    k = st.pi.size
    rf = _wald(
        ctx,
        st.gamma[0],
        np.sqrt(st.V[0, 0]),
        estimand=rf_est,
        method=f"OLS of {y} on {z}{adj}",
        params=ctx.params(binary),
    )
    fs = _wald(
        ctx,
        st.pi[0],
        np.sqrt(st.V[k, k]),
        estimand=fs_est,
        method=f"OLS of {d} on {z}{adj}",
        params=ctx.params(binary),
    )
    return [(rf_label, rf), (fs_label, fs)]


def _diagnostics(
    ctx: _Context, st: _Stage, fit: _TSLS, Zt: np.ndarray | None, strength: dict[str, float]
) -> tuple[Diagnostic, ...]:
    diags = [_strength_diagnostic(strength, st.pi.size, ctx.vce_text)]
    if st.pi.size > 1 and Zt is not None:
        stat, q = _overid(Zt, st, fit, ctx.vce, ctx.cl)
        diags.append(_overid_diagnostic(stat, q, ctx.vce, ctx.cl is not None))
    return tuple(diags)


def _causal(
    ctx: _Context, st: _Stage, fit: _TSLS, binary: bool, diag: Diagnostic, pieces: list[Any]
) -> Estimate:
    """The headline estimate: Wald interval, or the Anderson–Rubin set when ``diag`` fails."""
    se, lo, hi, p, inference = _headline(ctx, st, fit, diag.verdict == "fail", pieces)
    zs = ", ".join(ctx.instruments)
    estimand = (
        f"LATE: average effect of using {ctx.treatment} on {ctx.outcome} among compliers (users "
        f"who use it because {zs} gave them access); not the average effect over all users"
        if binary
        else f"effect of {ctx.treatment} on {ctx.outcome} identified by {zs} (with heterogeneous "
        "effects, a weighted average of local effects on those the instrument moves)"
    )
    adj = f", controls: {', '.join(ctx.covariates)}" if ctx.covariates else ""
    return _make(
        ctx, fit.beta, se, lo, hi, p,
        estimand=estimand,
        method=("Wald / 2SLS" if binary else "2SLS") + f" (instruments: {zs}{adj})",
        params=ctx.params(binary),
        diagnostics=(diag,),
        inference=inference,
        details={"tsls_std_error": fit.se, "ar_set": [list(q) for q in pieces]},
    )  # fmt: skip


def _assemble(
    ctx: _Context,
    st: _Stage,
    fit: _TSLS,
    binary: bool,
    extra: dict[str, Any],
    Zt: np.ndarray | None,
) -> EstimateSet:
    strength = _strength(st)
    diags = _diagnostics(ctx, st, fit, Zt, strength)
    weak = diags[0].verdict == "fail"
    pieces = _anderson_rubin_set(st, ctx.conf_level, fit.beta, max(fit.se, 1e-12))
    label = "LATE" if binary else "2SLS"
    details: dict[str, Any] = {
        "first_stage": {"coef": st.pi.tolist(), "instruments": ctx.instruments, **strength},
        "reduced_form": {"coef": st.gamma.tolist()},
        "tsls": {"estimate": fit.beta, "std_error": fit.se},
        "ar_set": [list(q) for q in pieces],
        "ar_set_text": _set_text(pieces),
        "ar_critical_value": float(stats.chi2.ppf(ctx.conf_level, st.pi.size)),
        "ar_curve": _ar_curve(st, fit, pieces),
        "headline_interval": "anderson-rubin" if weak else "wald",
    }
    if binary:
        details.update(extra)
    text = f"Weak instrument: the {label} interval is the Anderson–Rubin set {_set_text(pieces)}."
    return EstimateSet(
        title=f"Instrumental variables: effect of {ctx.treatment} on {ctx.outcome}",
        estimates=(
            *_components(ctx, st, binary),
            (label, _causal(ctx, st, fit, binary, diags[0], pieces)),
        ),
        method="randomized access, voluntary use: ITT, complier share, LATE (Wald)"
        if binary
        else "two-stage least squares",
        headline=label,
        params=ctx.params(binary),
        diagnostics=diags,
        warnings=(text,) if weak else (),
        details=details,
    )
