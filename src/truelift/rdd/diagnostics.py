"""Falsification checks attached to an RD result, each with a verdict and a consequence.

* density test (Cattaneo, Jansson & Ma 2020): bunching at the cutoff means sorting; a failure
  (p < 0.01) **blocks** the headline;
* covariate continuity (Lee & Lemieux 2010; Cattaneo, Idrobo & Titiunik 2020, sec. 5): RD on
  each pre-treatment covariate as outcome, Holm-adjusted; a jump (p < 0.05) downgrades;
* placebo cutoffs at the median of each side (only that side's data): a jump where there is no
  treatment change warns;
* bandwidth sensitivity (0.5h to 2h) and a donut RD (dropping |x - c| < 0.1 h): estimates that
  leave the main robust interval warn.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from truelift.errors import DataError
from truelift.inference import adjust_pvalues
from truelift.rdd._core import RDSpec, rd_arrays
from truelift.rdd._fit import RDFit
from truelift.rdd._order import sort_rows
from truelift.rdd.density import DensityTest, Sample, density_test_arrays, density_test_sample
from truelift.result import Diagnostic, Verdict

__all__ = ["ArraySource", "Source", "density_diagnostic", "diagnose", "fixed", "run_diagnostics"]

DENSITY_FAIL = 0.01
DENSITY_WARN = 0.05
BW_MULTIPLES = (0.5, 0.75, 1.5, 2.0)


def density_diagnostic(
    x: np.ndarray,
    c: float,
    result: DensityTest | None = None,
    sample: Sample | None = None,
    presorted: bool = False,
) -> Diagnostic:
    """The density test as a blocking diagnostic (``result``: an already computed test;
    ``sample``: the running variable as a :class:`Sample`, e.g. from a lazy engine;
    ``presorted``: x already sorted)."""
    try:
        if result is not None:
            dt = result
        elif sample is not None:
            dt = density_test_sample(sample, c)
        else:
            dt = density_test_arrays(x, c, presorted=presorted)
    except (DataError, np.linalg.LinAlgError, ValueError) as exc:
        return Diagnostic(
            "density test",
            "warn",
            None,
            f"p >= {DENSITY_FAIL}",
            f"The density test could not run: {exc}",
            consequence="block",
        )
    pv = dt.p_value
    verdict: Verdict = "fail" if pv < DENSITY_FAIL else "warn" if pv < DENSITY_WARN else "pass"
    msg = (
        f"Density of the running variable just below / above the cutoff: {dt.f_left:.4g} / "
        f"{dt.f_right:.4g} (T = {dt.statistic:.2f}, p = {pv:.3g})."
    )
    if verdict != "pass":
        msg += (
            " Units appear to bunch on one side of the cutoff (manipulation of the running "
            "variable), so units on the two sides are not comparable; the RD estimate is "
            "not credible. Find out how the score is produced and whether it can be gamed."
        )
    return Diagnostic(
        "density test",
        verdict,
        pv,
        f"p >= {DENSITY_FAIL} (warn below {DENSITY_WARN})",
        msg,
        consequence="block",
        details=dt.to_dict(),
    )


def _covariates(src: Source, names: list[str], spec: RDSpec) -> Diagnostic | None:
    if not names:
        return None
    rows = []
    for j, name in enumerate(names):
        try:
            f = src.covariate(j, spec)
            rows.append((name, f.tau_cl, f.p_value("robust")))
        except (DataError, np.linalg.LinAlgError):
            continue
    if not rows:
        return None
    adj = adjust_pvalues([r[2] for r in rows], "holm")
    worst = int(np.argmin(adj))
    verdict: Verdict = "fail" if adj[worst] < 0.05 else "pass"
    msg = (
        f"RD on each covariate as outcome; smallest Holm-adjusted robust p = {adj[worst]:.3g} "
        f"({rows[worst][0]})."
    )
    if verdict == "fail":
        msg += (
            " A pre-treatment covariate jumps at the cutoff: units just above and below "
            "differ in more than treatment. Investigate sorting before trusting the effect."
        )
    return Diagnostic(
        "covariate continuity",
        verdict,
        float(adj[worst]),
        "Holm p >= 0.05",
        msg,
        consequence="downgrade",
        details={
            "covariates": [
                {"name": r[0], "jump": r[1], "p_value": r[2], "p_holm": float(a)}
                for r, a in zip(rows, adj, strict=True)
            ]
        },
    )


def _placebo(src: Source, spec: RDSpec) -> Diagnostic | None:
    rows = []
    for side in ("left", "right"):
        try:
            got = src.placebo(side, spec)
        except (DataError, np.linalg.LinAlgError):
            continue
        if got is None:
            continue
        cp, f = got
        rows.append({"cutoff": cp, "jump": f.tau_cl, "p_value": f.p_value("robust")})
    if not rows:
        return None
    adj = adjust_pvalues([r["p_value"] for r in rows], "holm")
    verdict: Verdict = "warn" if adj.min() < 0.05 else "pass"
    msg = (
        "Placebo cutoffs at the median of each side: "
        + ", ".join(
            f"{r['cutoff']:.4g} (jump {r['jump']:+.4g}, p {r['p_value']:.3g})" for r in rows
        )
        + "."
    )
    if verdict == "warn":
        msg += " The outcome jumps where nothing changes: the functional form may be misfit."
    return Diagnostic(
        "placebo cutoffs",
        verdict,
        float(adj.min()),
        "Holm p >= 0.05",
        msg,
        consequence="none",
        details={"placebos": rows},
    )


def fixed(spec: RDSpec, h: tuple[float, float], b: tuple[float, float]) -> RDSpec:
    """The same options with bandwidths h and b fixed."""
    return RDSpec(
        p=spec.p,
        q=spec.q,
        kernel=spec.kernel,
        bandwidth=h,
        b=b,
        vce=spec.vce,
        nnmatch=spec.nnmatch,
        masspoints=spec.masspoints,
        conf_level=spec.conf_level,
    )


def _sensitivity(src: Source, spec: RDSpec, fit: RDFit, sign: float) -> list[Diagnostic]:
    lo, hi = sorted(sign * v for v in fit.ci("robust"))
    rows: list[dict[str, Any]] = []
    for m in BW_MULTIPLES:
        h = (fit.h[0] * m, fit.h[1] * m)
        b = (fit.b[0] * m, fit.b[1] * m)
        try:
            f = src.refit(fixed(spec, h, b), 0.0)
        except (DataError, np.linalg.LinAlgError, ValueError):
            continue
        a, bb = sorted(sign * v for v in f.ci("robust"))
        rows.append({"multiple": m, "h": h[0], "estimate": sign * f.tau_cl, "ci": [a, bb]})
    outside = [r for r in rows if not lo <= r["estimate"] <= hi]
    out = [
        Diagnostic(
            "bandwidth sensitivity",
            "warn" if outside else "pass",
            float(len(outside)),
            "estimates at 0.5h-2h inside the main robust CI",
            "Estimates at "
            + ", ".join(f"{r['multiple']:g}h: {r['estimate']:+.4g}" for r in rows)
            + (
                f"; {len(outside)} fall outside the main robust interval [{lo:.4g}, {hi:.4g}]."
                if outside
                else "; all inside the main robust interval."
            ),
            consequence="none",
            details={"rows": rows},
        )
    ]
    radius = 0.1 * min(fit.h)
    try:
        f = src.refit(fixed(spec, fit.h, fit.b), radius)
        n_gone = src.n_within(radius)
        est = sign * f.tau_cl
        ok = lo <= est <= hi
        out.append(
            Diagnostic(
                "donut",
                "pass" if ok else "warn",
                est,
                "donut estimate inside the main robust CI",
                f"Dropping the {n_gone:,} observations with |x - c| < {radius:.4g} "
                f"gives {est:+.4g} (main {sign * fit.tau_cl:+.4g})."
                + (
                    ""
                    if ok
                    else " The estimate leans on the units closest to the cutoff, where "
                    "sorting or heaping is most likely."
                ),
                consequence="none",
                details={"radius": radius, "estimate": est},
            )
        )
    except (DataError, np.linalg.LinAlgError, ValueError):
        pass
    return out


class Source(Protocol):
    """Where the diagnostics' refits get their data (in-memory arrays or a lazy engine)."""

    def density(self) -> Diagnostic: ...

    def covariate(self, j: int, spec: RDSpec) -> RDFit: ...

    def placebo(self, side: str, spec: RDSpec) -> tuple[float, RDFit] | None: ...

    def refit(self, spec: RDSpec, radius: float) -> RDFit: ...

    def n_within(self, radius: float) -> int: ...


class ArraySource:
    """The diagnostics' data as numpy arrays (x_all: the running variable before any donut).

    The rows are sorted by x once (``presorted``: the caller already did); every refit then
    works on sorted rows or contiguous slices of them (no further sorting).
    """

    def __init__(self, x_all, x, y, c, t, z, cl, presorted=False) -> None:  # type: ignore[no-untyped-def]
        self.x_all, self.c = x_all, c
        if presorted:
            self.x, self.y, self.t, self.z, self.cl = x, y, t, z, cl
        else:
            order, self.x, self.y = sort_rows(x, y)
            self.t, self.z, self.cl = (
                None if a is None else np.take(a, order, axis=0) for a in (t, z, cl)
            )
        # x is x_all less the donut's rows: equal sizes mean the same values
        self._same = x_all.size == self.x.size

    def density(self) -> Diagnostic:
        if self._same:  # no donut: the sorted running variable is at hand
            return density_diagnostic(self.x, self.c, presorted=True)
        return density_diagnostic(self.x_all, self.c)

    def covariate(self, j: int, spec: RDSpec) -> RDFit:
        assert self.z is not None  # internal invariant: called for covariates only
        return rd_arrays(self.x, self.z[:, j], self.c, spec, presorted=True)[0]

    def placebo(self, side: str, spec: RDSpec) -> tuple[float, RDFit] | None:
        cut = int(np.searchsorted(self.x, self.c, side="left"))
        rows = slice(0, cut) if side == "left" else slice(cut, self.x.size)
        xs, ys = self.x[rows], self.y[rows]
        if xs.size < 40:
            return None
        cp = float(np.median(xs))
        return cp, rd_arrays(xs, ys, cp, spec, presorted=True)[0]

    def refit(self, spec: RDSpec, radius: float) -> RDFit:
        if radius <= 0:
            sub = lambda a: a  # noqa: E731
        else:  # dropping rows keeps the others sorted
            keep = np.abs(self.x - self.c) >= radius
            sub = lambda a: a[keep]  # noqa: E731
        t, z, cl = (None if a is None else sub(a) for a in (self.t, self.z, self.cl))
        x, y = sub(self.x), sub(self.y)
        return rd_arrays(x, y, self.c, spec, t=t, z=z, cl=cl, presorted=True)[0]

    def n_within(self, radius: float) -> int:
        return int(np.count_nonzero(np.abs(self.x - self.c) < radius))


def mserd(spec: RDSpec) -> RDSpec:
    """The options with the MSE-optimal selector (covariate and placebo RDs)."""
    return RDSpec(
        p=spec.p,
        q=spec.q,
        kernel=spec.kernel,
        bandwidth="mserd",
        vce=spec.vce,
        nnmatch=spec.nnmatch,
        masspoints=spec.masspoints,
        conf_level=spec.conf_level,
    )


def diagnose(
    src: Source, spec: RDSpec, fit: RDFit, names: list[str], sign: float
) -> tuple[Diagnostic, ...]:
    """All RD diagnostics of a fit, their data from ``src``."""
    selector = mserd(spec)
    diags: list[Diagnostic | None] = [src.density()]
    if names:
        diags.append(_covariates(src, names, selector))
    diags.append(_placebo(src, selector))
    diags.extend(_sensitivity(src, spec, fit, sign))
    return tuple(d for d in diags if d is not None)


def run_diagnostics(
    x_all: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    spec: RDSpec,
    fit: RDFit,
    *,
    t: Any,
    z: Any,
    cl: Any,
    names: list[str],
    sign: float,
    presorted: bool = False,
) -> tuple[Diagnostic, ...]:
    """All RD diagnostics for a fit on (x, y) (x_all: the running variable before any donut;
    ``presorted``: the rows of x, y, t, z, cl are already sorted by x)."""
    src = ArraySource(x_all, x, y, c, t, z, cl, presorted=presorted)
    return diagnose(src, spec, fit, names if z is not None else [], sign)
