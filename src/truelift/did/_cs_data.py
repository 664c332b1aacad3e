"""Data preparation for staggered DiD: validated arrays from a long table (R did's pre-processing).

Panel data become an n_units x T outcome matrix (units not observed in every period are dropped,
as R ``did`` does); repeated cross-sections stay one row per observation. Cohorts (first treated
periods; 0 or missing = never treated; later than the last period = never treated) are checked to
be constant within unit, which is where a treatment that switches off is caught. Units treated
in the first period are dropped; without a never-treated group the not-yet-treated comparison
uses the last cohort only as a comparison group (Callaway & Sant'Anna 2021, sec. 2).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import narwhals.stable.v1 as nw
import numpy as np

from truelift import _frame
from truelift.errors import DataError, IdentificationError, TrueliftWarning

__all__ = ["Data", "load", "restrict", "restrict_moments"]


@dataclass
class Data:
    """Validated arrays: one entry per unit (panel: ``Y`` is T x n, ``XT`` T x n x k) or per
    observation (repeated cross-sections: ``Y`` n, ``XT`` n x k)."""

    panel: bool
    tlist: np.ndarray
    unit_g: np.ndarray
    Y: np.ndarray
    XT: np.ndarray
    tidx: np.ndarray
    cluster: np.ndarray | None
    n_obs: int
    n_dropped: int
    cohorts: np.ndarray
    notes: list[str] = field(default_factory=list)
    moments: Any = None  # engine path: per-cohort moments (truelift.did._cs_moments.Moments)
    pseudo: Any = None  # engine path: what the pseudo-rows of the influence functions stand for
    engine: str = "in-memory"
    transferred: str | None = None

    def rows(self) -> Any:
        """The rows of the influence functions (units, or pseudo-rows on the engine path)."""
        from truelift.did._aggregate import Rows

        return self.pseudo if self.pseudo is not None else Rows(self.unit_g)

    @property
    def n_units(self) -> int:
        return round(self.moments.n) if self.moments is not None else int(self.unit_g.shape[0])

    def cohort_count(self, g: float) -> float:
        if self.moments is not None:
            return float(self.moments.N[self.moments.cohort == g].sum())
        return float(np.sum(self.unit_g == g))


def _fill_cohort(data: Any, cohort: str | None) -> Any:
    """0 for missing cohorts (missing = never treated); the caller's frame is not modified."""
    df = _frame.to_frame(data)
    if cohort is None or cohort not in df.columns:
        return data
    expr = nw.col(cohort).fill_null(0)
    if df[cohort].dtype.is_float():
        expr = nw.when(nw.col(cohort).is_nan()).then(0.0).otherwise(expr)
    return df.with_columns(expr.alias(cohort)).to_native()


def load(data, outcome, unit, time, cohort, treatment, covariates, cluster, missing, panel) -> Data:
    cols = _frame.load(
        _fill_cohort(data, cohort),
        numeric={"outcome": outcome, "time": time, "cohort": cohort},
        binary={"treatment": treatment},
        keys={"unit": unit, "cluster": cluster},
        covariates=covariates,
        missing=missing,
    )
    t = cols["time"]
    tlist = np.unique(t)
    if tlist.size < 2:
        raise DataError(f"time column {time!r} has a single period; DiD needs at least two.")
    notes: list[str] = []
    XT = np.column_stack([np.ones(cols.n_obs), cols.X])
    if panel:
        ucode = cols["unit"]
        g = (
            cols["cohort"]
            if cohort is not None
            else _cohort_from_treatment(ucode, t, cols["treatment"], treatment)
        )
        d = _to_wide(
            cols["outcome"], ucode, t, tlist, g, XT, cols["cluster"] if cluster else None, notes
        )
    else:
        g = cols["cohort"]
        tidx = np.searchsorted(tlist, t)
        d = Data(
            False,
            tlist,
            g,
            cols["outcome"],
            XT,
            tidx,
            cols["cluster"] if cluster else None,
            cols.n_obs,
            0,
            np.empty(0),
            notes,
        )
    d.n_obs, d.n_dropped = cols.n_obs, cols.n_dropped
    _check_cohorts(d, cohort or treatment or "cohort")
    return d


def _cohort_from_treatment(
    ucode: np.ndarray, t: np.ndarray, tr: np.ndarray, name: str | None
) -> np.ndarray:
    """First treated period per row's unit; DataError if treatment ever switches off."""
    order = np.lexsort((t, ucode))
    u, d, tt = ucode[order], tr[order], t[order]
    first = np.full(int(u.max()) + 1, np.inf)
    np.minimum.at(first, u[d == 1], tt[d == 1])
    off = (d == 0) & (tt > first[u])
    if off.any():
        bad = np.unique(u[off])
        k = int(np.flatnonzero(off)[0])
        raise DataError(
            f"Treatment column {name!r} switches off for {bad.size:,} unit(s) (e.g. a unit first "
            f"treated in {first[u[k]]:g} is untreated again in {tt[k]:g}). Staggered DiD "
            "(Callaway & Sant'Anna) needs absorbing adoption: once treated, always treated. "
            "Either define cohort= as the first treated period (an intention-to-treat reading of "
            "later periods), or drop the units whose treatment switches off."
        )
    g = first[ucode]
    return np.where(np.isfinite(g), g, 0.0)


def _to_wide(y, ucode, t, tlist, g, XT, clus, notes) -> Data:
    T = tlist.size
    ti = np.searchsorted(tlist, t)
    n_units = int(ucode.max()) + 1
    counts = np.bincount(ucode * T + ti, minlength=n_units * T).reshape(n_units, T)
    if (counts > 1).any():
        k = int(np.flatnonzero(counts.ravel() > 1)[0])
        raise DataError(
            f"{int((counts > 1).sum()):,} unit-period pair(s) appear more than once (e.g. unit "
            f"#{k // T} in period {tlist[k % T]:g}); a panel has one row per unit and period. "
            "Aggregate the rows first, or pass panel=False for repeated cross-sections."
        )
    _constant_within_unit(g, ucode, n_units, "cohort", "The first treated period")
    if clus is not None:
        _constant_within_unit(clus.astype(float), ucode, n_units, "cluster", "The cluster")
    keep_unit = counts.sum(axis=1) == T
    if not keep_unit.all():
        lost = int((~keep_unit).sum())
        msg = f"Dropped {lost:,} of {n_units:,} units not observed in all {T} periods (balanced panel)."
        warnings.warn(msg, TrueliftWarning, stacklevel=4)
        notes.append(msg)
    Y = np.full((T, n_units), np.nan)
    Y[ti, ucode] = y
    X3 = np.zeros((T, n_units, XT.shape[1]))
    X3[ti, ucode] = XT
    ug = np.zeros(n_units)
    ug[ucode] = g
    uc = None
    if clus is not None:
        uc_full = np.zeros(n_units, dtype=np.int64)
        uc_full[ucode] = clus
        uc = np.unique(uc_full[keep_unit], return_inverse=True)[1]
    return Data(
        True,
        tlist,
        ug[keep_unit],
        Y if keep_unit.all() else Y[:, keep_unit],
        X3 if keep_unit.all() else X3[:, keep_unit],
        np.arange(T),
        uc,
        0,
        0,
        np.empty(0),
        notes,
    )


def _constant_within_unit(
    v: np.ndarray, ucode: np.ndarray, n_units: int, role: str, what: str
) -> None:
    ref = np.empty(n_units)
    ref[ucode] = v  # one of each unit's values; every row must equal it
    bad = np.flatnonzero(v != ref[ucode])
    if bad.size:
        extra = (
            " A first treated period that changes means treatment switched off or restarted: "
            "staggered DiD needs absorbing adoption (once treated, always treated)."
            if role == "cohort"
            else ""
        )
        k = bad[0]
        raise DataError(
            f"{what} must be constant within each unit; {np.unique(ucode[bad]).size:,} unit(s) "
            f"have several values (e.g. {v[k]:g} and {ref[ucode[k]]:g}).{extra}"
        )


def _check_cohorts(d: Data, name: str) -> None:
    g = d.unit_g
    if (g < 0).any():
        raise DataError(f"Cohort column {name!r} has negative values; use 0 for never treated.")
    late = g > d.tlist[-1]
    if late.any():
        d.notes.append(
            f"{int(late.sum()):,} units first treated after the last period count as never treated."
        )
        d.unit_g = np.where(late, 0.0, g)
    stray = np.setdiff1d(np.unique(d.unit_g), np.append(d.tlist, 0.0))
    if stray.size:
        raise DataError(
            f"Cohort column {name!r} holds {stray[:5].tolist()}, which are not periods of the time "
            "column; the cohort must be the first treated period (0 = never treated)."
        )


def restrict(d: Data, control: str, anticipation: int) -> Data:
    """Drop units treated in the first period; handle a missing never-treated group (R did)."""
    first = d.tlist[0]
    early = (d.unit_g > 0) & (d.unit_g <= first)
    if early.any():
        d.notes.append(f"Dropped {int(early.sum()):,} units already treated in the first period.")
        _subset(d, ~early)
    if not (d.unit_g == 0).any():
        if control == "never":
            raise IdentificationError(
                "no never-treated units: with control='never' no comparison group exists. Use "
                "control='notyet' (not-yet-treated units as the comparison; the last cohort "
                "then serves only as a comparison group)."
            )
        gmax = d.unit_g.max()
        keep_t = d.tlist < gmax - anticipation
        _keep_periods(d, keep_t)
        d.notes.append(
            f"No never-treated units: cohort {gmax:g} is used only as a comparison group."
        )
        cohorts = np.unique(d.unit_g[d.unit_g > 0])[:-1]
    else:
        cohorts = np.unique(d.unit_g[d.unit_g > 0])
    d.cohorts = cohorts[cohorts > d.tlist[0] + anticipation]
    if d.cohorts.size == 0 or d.tlist.size < 2:
        raise IdentificationError(
            "no cohort is first treated after a pre-treatment period, so no ATT(g,t) is "
            "identified. The cohort column must hold the first treated period (0 = never)."
        )
    return d


def _subset(d: Data, keep: np.ndarray) -> None:
    d.unit_g = d.unit_g[keep]
    d.Y = d.Y[:, keep] if d.panel else d.Y[keep]
    if d.panel:
        d.XT = d.XT[:, keep]
    else:
        d.XT, d.tidx = d.XT[keep], d.tidx[keep]
    if d.cluster is not None:
        d.cluster = np.unique(d.cluster[keep], return_inverse=True)[1]


def _keep_periods(d: Data, keep_t: np.ndarray) -> None:
    if d.panel:
        d.Y, d.XT = d.Y[keep_t], d.XT[keep_t]
        d.tlist = d.tlist[keep_t]
        d.tidx = np.arange(d.tlist.size)
        return
    newidx = np.cumsum(keep_t) - 1
    _subset(d, keep_t[d.tidx])
    d.tidx = newidx[d.tidx]
    d.tlist = d.tlist[keep_t]


def restrict_moments(m: Any, control: str, anticipation: int) -> Any:
    """:func:`restrict` on per-cohort moments (engine path): the same rules, on the small table."""
    first = m.tlist[0]
    early = (m.cohort > 0) & (m.cohort <= first)
    if early.any():
        m.notes.append(
            f"Dropped {int(m.N[early].sum()):,} units already treated in the first period."
        )
        keep = ~early
        idx = np.cumsum(keep) - 1
        if m.cl_cidx is not None:
            rows = keep[m.cl_cidx]
            m.cl_code = np.unique(m.cl_code[rows], return_inverse=True)[1].ravel()
            m.cl_cidx, m.cl_N, m.cl_s = idx[m.cl_cidx[rows]], m.cl_N[rows], m.cl_s[rows]
        m.cohort, m.N, m.s = m.cohort[keep], m.N[keep], m.s[keep]
        m.Q = None if m.Q is None else m.Q[keep]
    if not (m.cohort == 0).any():
        if control == "never":
            raise IdentificationError(
                "no never-treated units: with control='never' no comparison group exists. Use "
                "control='notyet' (not-yet-treated units as the comparison; the last cohort "
                "then serves only as a comparison group)."
            )
        gmax = m.cohort.max()
        keep_t = m.tlist < gmax - anticipation
        m.tlist, m.s = m.tlist[keep_t], m.s[:, keep_t]
        m.Q = None if m.Q is None else m.Q[:, keep_t][:, :, keep_t]
        m.cl_s = None if m.cl_s is None else m.cl_s[:, keep_t]
        m.notes.append(
            f"No never-treated units: cohort {gmax:g} is used only as a comparison group."
        )
        cohorts = np.unique(m.cohort[m.cohort > 0])[:-1]
    else:
        cohorts = np.unique(m.cohort[m.cohort > 0])
    m.cohorts_used = cohorts[cohorts > m.tlist[0] + anticipation]
    if m.cohorts_used.size == 0 or m.tlist.size < 2:
        raise IdentificationError(
            "no cohort is first treated after a pre-treatment period, so no ATT(g,t) is "
            "identified. The cohort column must hold the first treated period (0 = never)."
        )
    return m
