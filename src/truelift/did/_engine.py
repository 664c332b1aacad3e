"""DiD on lazy tables (DuckDB, polars lazy, Spark): sufficient statistics summed in the engine.

The estimators' kernels are written over small tables of sums, and this module computes those
tables with a few narwhals lazy queries, so no row leaves the engine:

* 2x2 DiD: count, sum and sum of squares per cell (and count and sum per cluster and cell);
* TWFE and the event study: the Gram matrix of the unit-demeaned outcome, regressors and period
  indicators (one aggregation; unit means are window means ``.over(unit)``), from which the
  period effects are partialled out in numpy (Frisch-Waugh-Lovell: exact for balanced and
  unbalanced panels), then one aggregation per cluster of the scores x_i e_i (k numbers per
  cluster); the cell means by adoption cohort and period for the plots;
* Callaway & Sant'Anna without covariates: per cohort the count, the sums of each period's
  outcome and their cross-products over units (:mod:`truelift.did._cs_moments`).

Column names reach the engine only as narwhals column references after
:func:`truelift.engines.with_safe_names` (positional renaming on Spark), never as SQL text.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np

from truelift._frame import closest_columns
from truelift.engines import engine_name, with_safe_names
from truelift.errors import (
    ColumnNotFoundError,
    DataError,
    IdentificationError,
    MissingDataWarning,
    MissingValueError,
    TrueliftWarning,
)

__all__ = ["Source", "cells_2x2", "collect", "prepare"]


@dataclass(frozen=True)
class Source:
    """A lazy table with safe column names, rows with missing values filtered out."""

    lf: Any
    col: dict[str, str]  # role -> engine column name
    shown: dict[str, str]  # role -> the caller's column name
    engine: str
    n_dropped: int

    def f(self, role: str) -> Any:
        """The role's column as a Float64 expression."""
        return nw.col(self.col[role]).cast(nw.Float64)


def _require(names: list[str], role: str, name: str) -> None:
    if name not in names:
        close = closest_columns(name, names)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ColumnNotFoundError(f"{role.capitalize()} column {name!r} not found.{hint}")


def collect(lf: Any, needed: list[str | None]) -> Any:
    """Rows of the needed columns (for the paths that need rows; the caller says so)."""
    names = list(lf.collect_schema().names())
    cols = list(dict.fromkeys(c for c in needed if c is not None))
    for c in cols:
        _require(names, "the", c)
    return lf.select(cols).collect().to_native()


def prepare(
    data_lf: Any,
    roles: dict[str, str | None],
    missing: str,
    *,
    keys: tuple[str, ...] = ("cluster", "unit"),
    nullable: tuple[str, ...] = (),
) -> Source:
    """Check the columns, count rows with a missing value (raise or drop them, as in memory).

    Roles in ``keys`` may be of any type (identifiers); the others must be numeric or boolean.
    """
    lf, safe = with_safe_names(data_lf)
    names = list(safe)
    used = {r: n for r, n in roles.items() if n is not None}
    for role, name in used.items():
        _require(names, role, name)
    schema = lf.collect_schema()
    null_parts = []
    for role, name in used.items():
        c, dtype = safe[name], schema[safe[name]]
        if role not in keys and not (dtype.is_numeric() or dtype == nw.Boolean):
            raise DataError(f"{role.capitalize()} column {name!r} must be numeric; found {dtype}.")
        if role in nullable:
            continue
        null_parts.append(nw.col(c).is_null())
        if dtype.is_float():
            null_parts.append(nw.col(c).is_nan())
    null = nw.any_horizontal(*null_parts, ignore_nulls=True)
    row = (
        lf.select(nw.len().alias("n"), null.cast(nw.Int64).sum().alias("n_null"))
        .collect()
        .rows(named=True)[0]
    )
    n_null = int(row["n_null"] or 0)
    if int(row["n"]) - n_null == 0:
        raise DataError("data has no rows without missing values; there is nothing to analyse.")
    if n_null:
        shown = ", ".join(repr(c) for c in used.values())
        if missing == "raise":
            raise MissingValueError(
                f"Missing values found in {shown} ({n_null:,} rows). Pass missing='drop' to "
                "drop them (the result records how many), or impute them first."
            )
        warnings.warn(
            f"Dropped {n_null:,} rows with missing values in {shown}.",
            MissingDataWarning,
            stacklevel=4,
        )
        lf = lf.filter(~null)
    col = {r: safe[n] for r, n in used.items()}
    return Source(lf, col, dict(used), engine_name(data_lf), n_null)


def _binary_check(values: np.ndarray, role: str, name: str) -> None:
    bad = sorted({float(v) for v in values} - {0.0, 1.0})
    if bad:
        raise DataError(
            f"{role.capitalize()} column {name!r} must be binary (0/1 or bool); found values "
            f"{bad[:6]} besides 0 and 1."
        )


def binary(src: Source, role: str) -> None:
    """DataError unless the role's column holds only 0 and 1."""
    c = src.f(role)
    bad = src.lf.select(((c != 0) & (c != 1)).cast(nw.Float64).sum().alias("b")).collect().item()
    if bad:
        raise DataError(
            f"{role.capitalize()} column {src.shown[role]!r} must be binary (0/1 or bool); "
            f"{int(bad):,} rows hold other values."
        )


def cells_2x2(
    src: Source, clustered: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per cell (2*treated + post): count, sum, sum of squared deviations from the cell mean
    (from the engine's stable population variance of each group, the groups' parts combined
    with their means' deviations); per cluster and cell: count, sum."""
    y = src.f("outcome")
    keys = ["__d", "__p"] + (["__g"] if clustered else [])
    lf = src.lf.with_columns(__d=src.f("treated"), __p=src.f("post"), __y=y)
    if clustered:
        lf = lf.with_columns(__g=nw.col(src.col["cluster"]))
    t = (
        lf.group_by(*keys)
        .agg(
            nw.len().cast(nw.Float64).alias("n"),
            nw.col("__y").sum().alias("s"),
            nw.col("__y").var(ddof=0).alias("v"),
        )
        .collect()
    )
    d = np.asarray(t["__d"].to_numpy(), dtype=float)
    p = np.asarray(t["__p"].to_numpy(), dtype=float)
    _binary_check(d, "treated", src.shown["treated"])
    _binary_check(p, "post", src.shown["post"])
    cell = (2 * d + p).astype(np.int64)
    n, s, v = (np.asarray(t[k].to_numpy(), dtype=float) for k in ("n", "s", "v"))
    n_c, s_c = (np.bincount(cell, weights=a, minlength=4) for a in (n, s))
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = s / n - (s_c / n_c)[cell]  # a group's mean about its cell's
    m2 = np.bincount(cell, weights=n * np.nan_to_num(v) + n * gap * gap, minlength=4)
    if not clustered:
        return n_c, s_c, m2, None, None
    g = np.unique(np.asarray(t["__g"].to_numpy()), return_inverse=True)[1].ravel()
    G = int(g.max()) + 1
    key = g * 4 + cell
    cl_n = np.bincount(key, weights=n, minlength=4 * G).reshape(G, 4)
    cl_s = np.bincount(key, weights=s, minlength=4 * G).reshape(G, 4)
    return n_c, s_c, m2, cl_n, cl_s


# ----------------------------------------------------------------------------- fixed effects


def levels(src: Source, role: str) -> np.ndarray:
    """Sorted distinct values of a (small) key column, e.g. the periods."""
    t = src.lf.select(nw.col(src.col[role])).unique().collect()
    return np.sort(np.asarray(t[src.col[role]].to_numpy()))


@dataclass(frozen=True)
class FEParts:
    """What the fixed-effects kernel needs, from the engine: the Gram matrix of the within-
    transformed regressors and outcome, per-cluster scores, sizes, and the expression of the
    within-transformed first regressor (for the TWFE weights diagnostic)."""

    XtX: np.ndarray
    Xty: np.ndarray
    n: int
    n_levels: list[int]
    nested: list[bool]
    lf: Any  # the table with the residualised columns __xr0.. and __e
    k: int


def _within(src: Source, x: list[Any], times: np.ndarray) -> tuple[Any, int]:
    """Unit-demeaned outcome, regressors and period indicators (all but the first period)."""
    u, t = src.col["unit"], src.col["time"]
    cols: dict[str, Any] = {"__w0": src.f("outcome")}
    for j, e in enumerate(x):
        cols[f"__w{j + 1}"] = e
    for i, v in enumerate(times[1:]):
        cols[f"__w{len(x) + 1 + i}"] = (nw.col(t) == nw.lit(v.item())).cast(nw.Float64)
    lf = src.lf.with_columns(**cols)
    demeaned = {c: nw.col(c) - nw.col(c).mean().over(u) for c in cols}
    return lf.with_columns(**demeaned), len(cols)


def fe_parts(src: Source, x: list[Any], *, fe_dof: str, cluster_role: str = "cluster") -> FEParts:
    """Two aggregations for OLS with unit and period effects; see the module docstring."""
    times = levels(src, "time")
    lf, m = _within(src, x, times)
    w = [f"__w{i}" for i in range(m)]
    sums = [nw.len().cast(nw.Float64).alias("n")]
    for a in range(m):
        for b in range(a, m):
            sums.append((nw.col(w[a]) * nw.col(w[b])).sum().alias(f"g{a}_{b}"))
    row = lf.select(*sums).collect().rows(named=True)[0]
    M = np.empty((m, m))
    for a in range(m):
        for b in range(a, m):
            M[a, b] = M[b, a] = float(row[f"g{a}_{b}"] or 0.0)
    k = len(x)
    xi, di = np.arange(1, k + 1), np.arange(k + 1, m)
    DD = M[np.ix_(di, di)]
    Gam = np.linalg.lstsq(DD, M[np.ix_(di, np.r_[0, xi])], rcond=None)[0] if di.size else None
    if Gam is not None:
        cross = M[np.ix_(np.r_[0, xi], di)] @ Gam  # (1+k) x (1+k)
        R = M[np.ix_(np.r_[0, xi], np.r_[0, xi])] - cross
    else:
        R = M[np.ix_(np.r_[0, xi], np.r_[0, xi])]
    # residualised columns (period effects partialled out) for the scores and diagnostics
    resid: dict[str, Any] = {}
    for j in range(k + 1):
        e = nw.col(w[0 if j == 0 else j])
        if Gam is not None:
            for i, c in enumerate(di):
                e = e - nw.lit(float(Gam[i, j])) * nw.col(w[c])
        resid["__yr" if j == 0 else f"__xr{j - 1}"] = e
    lf = lf.with_columns(**resid)
    cl = src.col.get(cluster_role, src.col["unit"])
    u_nest, t_nest = _nesting(src, cl, fe_dof)
    N = int(lf.select(nw.col(src.col["unit"]).n_unique()).collect().item())
    return FEParts(R[1:, 1:], R[1:, 0], round(row["n"]), [N, times.size], [u_nest, t_nest], lf, k)


def _nesting(src: Source, cl: str, fe_dof: str) -> tuple[bool, bool]:
    if fe_dof != "nested":
        return False, False
    out = []
    for role in ("unit", "time"):
        c = src.col[role]
        if c == cl:
            out.append(True)
            continue
        q = src.lf.group_by(c).agg(nw.col(cl).n_unique().alias("k")).select(nw.col("k").max())
        out.append(int(q.collect().item()) == 1)
    return out[0], out[1]


def fe_scores(
    parts: FEParts, coef: np.ndarray, src: Source, cluster_role: str = "cluster"
) -> np.ndarray:
    """Per-cluster sums of x_i e_i with e the residual at ``coef`` (G x k; G rows leave)."""
    e = nw.col("__yr")
    for j in range(parts.k):
        e = e - nw.lit(float(coef[j])) * nw.col(f"__xr{j}")
    cl = src.col.get(cluster_role, src.col["unit"])
    aggs = [(nw.col(f"__xr{j}") * e).sum().alias(f"s{j}") for j in range(parts.k)]
    t = parts.lf.group_by(cl).agg(*aggs).collect()
    return np.column_stack([np.asarray(t[f"s{j}"].to_numpy(), dtype=float) for j in range(parts.k)])


def twfe_weights(parts: FEParts, treat: Any) -> tuple[float, float]:
    """(share of treated rows weighted negatively, total negative weight) by TWFE."""
    x0, on = nw.col("__xr0"), treat == 1
    neg = on & (x0 < 0)
    row = (
        parts.lf.select(
            on.cast(nw.Float64).sum().alias("n1"),
            neg.cast(nw.Float64).sum().alias("nneg"),
            nw.when(on).then(x0).otherwise(0.0).sum().alias("w"),
            nw.when(neg).then(x0).otherwise(0.0).sum().alias("wneg"),
        )
        .collect()
        .rows(named=True)[0]
    )
    n1 = float(row["n1"] or 0.0)
    if n1 == 0:
        return 0.0, 0.0
    return float(row["nneg"]) / n1, -float(row["wneg"]) / float(row["w"])


def adoption_cells(src: Source) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Per (first treated period, period): count and outcome sum; rows off absorbing adoption.

    Returns (first, time, n, sum_y, n_violations) with first = NaN for never-treated units.
    """
    u, t, d = src.col["unit"], src.col["time"], src.f("treatment")
    first = nw.when(d == 1).then(nw.col(t).cast(nw.Float64)).min().over(u)
    lf = src.lf.with_columns(__f=first, __d=d)
    ever = ~nw.col("__f").is_null()
    after = ever & (nw.col(t) >= nw.col("__f"))
    off = (after != (nw.col("__d") == 1)).cast(nw.Float64)
    lf = lf.with_columns(__ever=ever, __first=nw.col("__f").fill_null(0.0))
    tab = (
        lf.with_columns(__off=off)
        .group_by("__ever", "__first", t)
        .agg(
            nw.len().cast(nw.Float64).alias("n"),
            src.f("outcome").sum().alias("s"),
            nw.col("__off").sum().alias("off"),
        )
        .collect()
    )
    f = np.array(tab["__first"].to_numpy(), dtype=float)
    f[~np.asarray(tab["__ever"].to_numpy(), dtype=bool)] = np.nan
    return (
        f,
        np.asarray(tab[t].to_numpy(), dtype=float),
        np.asarray(tab["n"].to_numpy(), dtype=float),
        np.asarray(tab["s"].to_numpy(), dtype=float),
        round(float(np.nansum(np.asarray(tab["off"].to_numpy(), dtype=float)))),
    )


# ----------------------------------------------------------------------------- Callaway & Sant'Anna


def cs_moments(src: Source, clustered: bool, anticipation: int, control: str) -> Any:
    """Per-cohort moments of the balanced panel (``truelift.did._cs_moments.Moments``).

    Queries: the periods; one pass per unit (row count, distinct periods, cohort and cluster
    range, outcome of each period) aggregated to the few checks R ``did`` makes (duplicates,
    cohort or cluster changing within a unit, units missing a period: dropped with a warning);
    then per cohort (and cluster) the count, sums and, unclustered, cross-products.
    """
    from truelift.did._cs_moments import Moments

    tl = levels(src, "time").astype(float)
    T, u, t = tl.size, src.col["unit"], src.col["time"]
    if T < 2:
        raise DataError(f"time column {src.shown['time']!r} has a single period; DiD needs two.")
    g = src.f("cohort").fill_null(0.0)
    g = nw.when(g.is_nan()).then(0.0).otherwise(g)
    aggs = [
        nw.len().alias("__n"),
        nw.col(t).n_unique().alias("__nt"),
        nw.col("__g").min().alias("__gmin"),
        nw.col("__g").max().alias("__gmax"),
        *[
            nw.when(nw.col(t) == nw.lit(v.item())).then(src.f("outcome")).otherwise(0.0).sum()
            .alias(f"__y{i}")
            for i, v in enumerate(src_times(src, tl))
        ],
    ]  # fmt: skip
    if clustered:
        c = nw.col(src.col["cluster"])
        aggs += [c.n_unique().alias("__ncl"), c.min().alias("__cl")]
    units = src.lf.with_columns(__g=g).group_by(u).agg(*aggs)
    chk = (
        units.select(
            (nw.col("__n") - nw.col("__nt")).max().alias("dup"),
            (nw.col("__gmin") != nw.col("__gmax")).cast(nw.Float64).sum().alias("var_g"),
            (nw.col("__nt") < T).cast(nw.Float64).sum().alias("short"),
            nw.len().alias("units"),
            *([(nw.col("__ncl") > 1).cast(nw.Float64).sum().alias("var_c")] if clustered else []),
        )
        .collect()
        .rows(named=True)[0]
    )
    _unit_checks(chk, clustered)
    notes: list[str] = []
    if chk["short"]:
        msg = (
            f"Dropped {int(chk['short']):,} of {int(chk['units']):,} units not observed in all "
            f"{T} periods (balanced panel)."
        )
        warnings.warn(msg, TrueliftWarning, stacklevel=4)
        notes.append(msg)
    units = units.filter(nw.col("__nt") == T)
    ys = [nw.col(f"__y{i}") for i in range(T)]
    keys = ["__gmin", "__cl"] if clustered else ["__gmin"]
    sums = [
        nw.len().cast(nw.Float64).alias("N"),
        *[y.sum().alias(f"s{i}") for i, y in enumerate(ys)],
    ]
    if not clustered:
        sums += [(ys[a] * ys[b]).sum().alias(f"q{a}_{b}") for a in range(T) for b in range(a, T)]
    tab = units.group_by(*keys).agg(*sums).collect()
    coh = np.asarray(tab["__gmin"].to_numpy(), dtype=float)
    N = np.asarray(tab["N"].to_numpy(), dtype=float)
    s = np.column_stack([np.asarray(tab[f"s{i}"].to_numpy(), dtype=float) for i in range(T)])
    coh = _cohort_values(coh, tl, src.shown["cohort"], notes)
    uc, ci = np.unique(coh, return_inverse=True)
    ci = ci.ravel()
    m = Moments(tl, uc, np.bincount(ci, weights=N, minlength=uc.size),
                np.stack([np.bincount(ci, weights=s[:, i], minlength=uc.size) for i in range(T)], 1),
                notes=notes)  # fmt: skip
    if clustered:
        codes = np.unique(np.asarray(tab["__cl"].to_numpy()), return_inverse=True)[1].ravel()
        m.cl_code, m.cl_cidx, m.cl_N, m.cl_s = codes, ci, N, s
    else:
        Q = np.zeros((uc.size, T, T))
        for a in range(T):
            for b in range(a, T):
                v = np.bincount(ci, weights=np.asarray(tab[f"q{a}_{b}"].to_numpy(), dtype=float),
                                minlength=uc.size)  # fmt: skip
                Q[:, a, b] = Q[:, b, a] = v
        m.Q = Q
    return m


def src_times(src: Source, tl: np.ndarray) -> list[Any]:
    """Period values as the time column's own type (integers stay integers in the query)."""
    dtype = src.lf.collect_schema()[src.col["time"]]
    return [np.int64(v) if dtype.is_integer() else np.float64(v) for v in tl]


def _unit_checks(chk: dict[str, Any], clustered: bool) -> None:
    if chk["dup"] and chk["dup"] > 0:
        raise DataError(
            "some unit-period pairs appear more than once; a panel has one row per unit and "
            "period. Aggregate the rows first, or pass panel=False for repeated cross-sections."
        )
    if chk["var_g"]:
        raise DataError(
            f"The first treated period must be constant within each unit; {int(chk['var_g']):,} "
            "unit(s) have several values. A first treated period that changes means treatment "
            "switched off or restarted: staggered DiD needs absorbing adoption (once treated, "
            "always treated)."
        )
    if clustered and chk["var_c"]:
        raise DataError(
            f"The cluster must be constant within each unit; {int(chk['var_c']):,} unit(s) have "
            "several values."
        )


def _cohort_values(coh: np.ndarray, tl: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """R did's cohort rules on the small cohort table: negative -> error, after the last period
    -> never treated, values that are not periods -> error."""
    if (coh < 0).any():
        raise DataError(f"Cohort column {name!r} has negative values; use 0 for never treated.")
    late = coh > tl[-1]
    if late.any():
        notes.append("Some units first treated after the last period count as never treated.")
        coh = np.where(late, 0.0, coh)
    stray = np.setdiff1d(np.unique(coh), np.append(tl, 0.0))
    if stray.size:
        raise DataError(
            f"Cohort column {name!r} holds {stray[:5].tolist()}, which are not periods of the time "
            "column; the cohort must be the first treated period (0 = never treated)."
        )
    return coh


def event_table(src: Source) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Event times (``__e``) by treated status with row counts; checks that the cohort is
    constant within unit and that event times are whole periods; never-treated unit count."""
    u = src.col["unit"]
    chk = (
        src.lf.group_by(u)
        .agg(nw.col("__g").n_unique().alias("k"), nw.col("__g").max().alias("g"))
        .select(
            (nw.col("k") > 1).cast(nw.Float64).sum().alias("var"),
            (nw.col("g") == 0).cast(nw.Float64).sum().alias("never"),
        )
        .collect()
        .rows(named=True)[0]
    )
    if chk["var"]:
        raise DataError(
            f"Cohort column {src.shown['cohort']!r} must be constant within each unit (the first "
            f"treated period); it varies for {int(chk['var']):,} units."
        )
    t = (
        src.lf.with_columns(__tr=nw.col("__g") > 0)
        .group_by("__tr", "__e")
        .agg(nw.len().cast(nw.Float64).alias("n"))
        .collect()
    )
    e = np.asarray(t["__e"].to_numpy(), dtype=float)
    tr = np.asarray(t["__tr"].to_numpy(), dtype=bool)
    if np.any(e != np.round(e)):
        raise DataError(
            f"Time {src.shown['time']!r} and cohort {src.shown['cohort']!r} must be integer "
            "periods (e.g. week or year numbers) so that event time = time - cohort is defined."
        )
    if not tr.any():
        raise IdentificationError(
            f"no unit is ever treated (cohort {src.shown['cohort']!r} is 0 or missing everywhere)."
        )
    e = np.where(tr, e, 0.0).astype(np.int64)
    return e, tr, np.asarray(t["n"].to_numpy(), dtype=float), round(chk["never"] or 0)


def cell_sums(src: Source, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count and outcome sum per (``key``, period): the cohort x period cell means."""
    t = src.col["time"]
    tab = (
        src.lf.group_by(key, t)
        .agg(nw.len().cast(nw.Float64).alias("n"), src.f("outcome").sum().alias("s"))
        .collect()
    )
    return tuple(np.asarray(tab[c].to_numpy(), dtype=float) for c in (key, t, "n", "s"))  # type: ignore[return-value]
