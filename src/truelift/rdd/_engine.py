"""RD on a lazy table (DuckDB relation, polars LazyFrame, PySpark DataFrame): sums in the engine.

The RD kernel (``bandwidth.py``, ``_fit_moments.py``) asks for batches of kernel-weighted power
sums over the rows inside a window (:mod:`truelift.rdd._sums`). :class:`EngineFeeder` answers each
batch with one narwhals lazy aggregation run where the rows live, so the same kernel gives the
same numbers as the in-memory path while only sums leave the engine:

* per side: row count, min/max, number of distinct running-variable values, number of clusters,
  min/max of the treatment; overall: standard deviations of x and y, the covariates' Gram matrix
  (collinearity), the order statistics of x behind R's type-2 IQR (found by counting rows below a
  grid of cut points, narrowing until at most ``_ROWS_PER_STEP`` values remain), the 10 distinct
  x values nearest the cutoff (mass-point floor);
* per fit (pilot, bias, final): sum K u^m, sum K u^m d_j, count and distinct count in the window;
  then sum (K r)^2 u^m for the HC0/HC1 meat, or per-cluster sums K r u^j (CR1: one row per
  cluster leaves the engine);
* per side: counts and sums of y in the plot's bins.

What cannot be done in the engine: the nearest-neighbour variance (``vce="nn"``) compares each
row with its sorted neighbours, and HC2/HC3 need per-row leverages; for those only the rows
inside the kernel window of each fit are collected (the widest window asked for), and the result
says how many.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import narwhals as nw
import numpy as np

from truelift._frame import closest_columns
from truelift.engines import engine_name, with_safe_names
from truelift.errors import ColumnNotFoundError, DataError, MissingDataWarning, MissingValueError
from truelift.rdd._array import ArrayFeeder, Side
from truelift.rdd._core import RDSpec, kept_columns, rd_feeders, type2_ranks
from truelift.rdd._fit import RDFit
from truelift.rdd._sums import Col, Ind, Kern, Poly, WindowSums
from truelift.rdd.bins import bin_count

__all__ = ["EngineRun", "Log", "order_stats", "prepare", "rd_lazy"]

_ROWS_PER_STEP = 500  # order statistics: collect the candidates once at most this many remain
_GRID = 64  # cut points per narrowing step


@dataclass
class Log:
    """What left the engine: queries run, numbers returned, rows collected (and why)."""

    queries: int = 0
    numbers: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def table(self, t: Any) -> Any:
        self.queries += 1
        self.numbers += len(t) * len(t.columns)
        return t

    def text(self) -> str:
        out = f"{self.queries} aggregation queries returning {self.numbers:,} numbers"
        if self.rows:
            out += "; rows collected: " + ", ".join(f"{v:,} {k}" for k, v in self.rows.items())
        else:
            out += "; no rows"
        return out


@dataclass(frozen=True)
class _Cols:
    """Engine expressions of the roles (running x, outcome y, treatment t, covariates z, cl)."""

    x: Any
    y: Any
    t: Any | None
    z: tuple[Any, ...]
    cl: str | None


def _kern(xs: Any, c: float, k: Kern) -> Any:
    """K((x - c)/h)/h exactly as :func:`truelift.rdd._kernels.kweight` computes it."""
    a = ((xs - c) / k.h).abs()
    if k.kernel == "uniform":
        val: Any = nw.lit(0.5 / k.h)
    elif k.kernel == "epanechnikov":
        val = ((1 - a * a) * 0.75) / k.h
    else:
        val = (1 - a) / k.h
    return nw.when(a <= 1).then(val).otherwise(nw.lit(0.0))


def _horner(coefs: tuple[float, ...], u: Any) -> Any:
    out: Any = nw.lit(coefs[-1])
    for cf in coefs[-2::-1]:
        out = out * u + cf
    return out


class EngineFeeder:
    """One side of the cutoff held by a lazy engine (see the module notes)."""

    def __init__(
        self,
        lf: Any,
        cols: _Cols,
        c: float,
        stats: dict[str, Any],
        log: Log,
        nnmatch: int,
        reason: str,
        x_sd: float = 1.0,
        y_sd: float = 1.0,
        keep_t: bool = True,
    ) -> None:
        self.lf, self.cols, self.stats, self.log, self.nnmatch = lf, cols, stats, log, nnmatch
        self.reason = reason
        self.x_sd, self.y_sd, self.keep_t = x_sd, y_sd, keep_t
        scaled = x_sd != 1.0
        self.c = c / x_sd if scaled else c
        self.n = int(stats["n"])
        self.x_min = stats["x_min"] / x_sd if scaled else stats["x_min"]
        self.x_max = stats["x_max"] / x_sd if scaled else stats["x_max"]
        self.has_t = cols.t is not None and keep_t
        self.has_z = len(cols.z) > 0
        self.ncols = 1 + int(self.has_t) + len(cols.z)
        self.clustered = cols.cl is not None
        self._rows: tuple[float, ArrayFeeder] | None = None

    # expressions on the (possibly standardised) scale the kernel works on
    def _x(self) -> Any:
        return self.cols.x / self.x_sd if self.x_sd != 1.0 else self.cols.x

    def _d(self) -> list[Any]:
        y = self.cols.y / self.y_sd if self.y_sd != 1.0 else self.cols.y
        return [y, *([self.cols.t] if self.has_t else []), *self.cols.z]

    def scaled(self, x_sd: float, y_sd: float, keep_t: bool) -> EngineFeeder:
        c_raw = self.c * self.x_sd if self.x_sd != 1.0 else self.c
        return EngineFeeder(
            self.lf,
            self.cols,
            c_raw,
            self.stats,
            self.log,
            self.nnmatch,
            self.reason,
            x_sd,
            y_sd,
            keep_t,
        )

    def n_distinct(self) -> int:
        return int(self.stats["n_distinct"])

    def t_constant(self) -> bool:
        return self.cols.t is None or self.stats["t_min"] == self.stats["t_max"]

    def n_clusters(self) -> int:
        return int(self.stats.get("n_clusters", 0))

    def _near_raw(self, k: int) -> np.ndarray:
        """The k (at least 16) distinct raw x values nearest the cutoff, by distance (cached in
        the side's stats, which the standardised copies share)."""
        got = self.stats.get("_near")
        if got is None or (got[0] < k and got[1].size >= got[0]):
            c_raw = self.c * self.x_sd if self.x_sd != 1.0 else self.c
            m = max(k, 16)
            t = self.log.table(
                self.lf.select(__v=self.cols.x)
                .unique()
                .with_columns(__d=(nw.col("__v") - c_raw).abs())
                .sort("__d")
                .head(m)
                .collect()
            )
            raw = np.sort(np.asarray(t["__v"].to_numpy(), dtype=np.float64))
            got = (m, raw[::-1] if self.stats["x_max"] < c_raw else raw)
            self.stats["_near"] = got
        return np.asarray(got[1][:k])

    def nearest_distinct(self, k: int) -> np.ndarray:
        raw = self._near_raw(k)
        vals = raw / self.x_sd if self.x_sd != 1.0 else raw
        return np.asarray(np.abs(vals - self.c))

    def _has_distinct(self, win: Kern, k: int) -> bool:
        """Whether the window holds k distinct x values: the k-th nearest distinct value has a
        positive kernel weight (the same test as on the window's rows, without a DISTINCT)."""
        d = self.nearest_distinct(k)
        if d.size < k:
            return False
        a = d[k - 1] / win.h
        return bool(a <= 1 and (win.kernel == "uniform" or a < 1))

    def _factor(self, f: Any, u: Any, d: list[Any], xs: Any) -> Any:
        if isinstance(f, Kern):
            return _kern(xs, self.c, f)
        if isinstance(f, Ind):
            return (_kern(xs, self.c, f.k) > 0).cast(nw.Float64)
        if isinstance(f, Poly):
            return _horner(f.coefs, u)
        if isinstance(f, Col):
            return d[f.j]
        if f.nn:
            raise AssertionError("nearest-neighbour residuals are answered from rows")
        r: Any = d[0] * f.s[0] if f.s[0] != 1.0 else d[0]
        for j in range(1, len(f.s)):
            r = r + d[j] * f.s[j]
        r = r - _horner(f.coefs, u)
        return r * f.scale if f.scale != 1.0 else r

    def sums(self, win: Kern, reqs: Any, distinct: int = 0) -> WindowSums:
        xs = self._x()
        d = self._d()
        lf = self.lf.filter(_kern(xs, self.c, win) > 0).with_columns(__u=xs - self.c)
        u = nw.col("__u")
        m_top = max([r.m_max for r in reqs] + [0])
        powers = {f"__u{m}": u**m for m in range(2, m_top + 1)}
        lf = lf.with_columns(**powers) if powers else lf

        def upow(m: int) -> Any:
            return None if m == 0 else u if m == 1 else nw.col(f"__u{m}")

        prods = {}
        for i, r in enumerate(reqs):
            e = self._factor(r.factors[0], u, d, xs)
            for f in r.factors[1:]:
                e = e * self._factor(f, u, d, xs)
            prods[f"__p{i}"] = e
        lf = lf.with_columns(**prods)
        plain: list[Any] = []
        clustered: list[Any] = []
        for i, r in enumerate(reqs):
            p = nw.col(f"__p{i}")
            for m in range(r.m_max + 1):
                term = p if m == 0 else p * upow(m)
                (clustered if r.by_cluster else plain).append(term.sum().alias(f"s{i}_{m}"))
            for m in range(r.cols + 1):
                for j, dj in enumerate(d):
                    term = p * dj if m == 0 else p * upow(m) * dj
                    plain.append(term.sum().alias(f"c{i}_{m}_{j}"))
        plain.append(nw.len().alias("__n"))
        if distinct and not self._has_distinct(win, distinct):
            return WindowSums(0, False)
        row = self.log.table(lf.select(*plain).collect()).rows(named=True)[0]
        n = int(row["__n"])
        by_cl = None
        if clustered:
            assert self.cols.cl is not None  # internal invariant: cluster sums need clusters
            by_cl = self.log.table(lf.group_by(self.cols.cl).agg(*clustered).collect())
        out: list[Any] = []
        for i, r in enumerate(reqs):
            if r.by_cluster:
                assert by_cl is not None
                out.append(
                    np.column_stack(
                        [
                            np.asarray(by_cl[f"s{i}_{m}"].to_numpy(), float)
                            for m in range(r.m_max + 1)
                        ]
                    ).reshape(len(by_cl), r.m_max + 1)
                )
                continue
            mom = np.array([_num(row[f"s{i}_{m}"]) for m in range(r.m_max + 1)])
            if r.cols < 0:
                out.append(mom)
                continue
            rhs = np.array(
                [[_num(row[f"c{i}_{m}_{j}"]) for j in range(len(d))] for m in range(r.cols + 1)]
            )
            out.append((mom, rhs))
        return WindowSums(n, True, out)

    def rows(self, win: Kern) -> ArrayFeeder:
        """The rows inside the window, in memory and sorted by x (nn and HC2/HC3 variances)."""
        if self._rows is not None and self._rows[0] >= win.h:
            return self._rows[1]
        xs = self._x()
        names = ["__x", "__y", *(["__t"] if self.has_t else [])]
        names += [f"__z{j}" for j in range(len(self.cols.z))]
        exprs = dict(zip(names, [xs, *self._d()], strict=True))
        if self.cols.cl is not None:
            exprs["__cl"] = nw.col(self.cols.cl)
        a = ((xs - self.c) / win.h).abs()
        t = self.lf.filter(a <= 1).select(**exprs).sort("__x").collect()
        key = f"in the widest kernel window of a fit, for the {self.reason}"
        self.log.rows[key] = max(len(t), self.log.rows.get(key, 0))
        col = {k: np.asarray(t[k].to_numpy()) for k in t.columns}
        z = (
            np.column_stack([col[f"__z{j}"] for j in range(len(self.cols.z))])
            if self.cols.z
            else None
        )
        side = Side(
            x=col["__x"].astype(np.float64),
            y=col["__y"].astype(np.float64),
            t=col["__t"].astype(np.float64) if self.has_t else None,
            z=None if z is None else z.astype(np.float64),
            cl=col.get("__cl"),
        )
        feeder = ArrayFeeder(side, self.c, self.nnmatch)
        self._rows = (win.h, feeder)
        return feeder

    def bins(self, lo: float, hi: float) -> dict[str, list[float]]:
        j = bin_count(self.n)
        if self.n == 0 or hi <= lo:
            return {"x": [], "y": [], "n": []}
        edges = np.linspace(lo, hi, j + 1)
        idx: Any = nw.lit(0)
        for e in edges[1:-1]:
            idx = idx + (self.cols.x >= float(e)).cast(nw.Int64)
        t = self.log.table(
            self.lf.with_columns(__b=idx)
            .group_by("__b")
            .agg(nw.len().alias("n"), self.cols.y.sum().alias("s"))
            .collect()
        )
        b = np.asarray(t["__b"].to_numpy(), dtype=np.int64)
        n = np.bincount(b, weights=np.asarray(t["n"].to_numpy(), float), minlength=j)
        s = np.bincount(b, weights=np.asarray(t["s"].to_numpy(), float), minlength=j)
        ok = n > 0
        centres = 0.5 * (edges[:-1] + edges[1:])
        return {"x": centres[ok].tolist(), "y": (s[ok] / n[ok]).tolist(), "n": n[ok].tolist()}


def _num(v: Any) -> float:
    return 0.0 if v is None else float(v)


@dataclass(frozen=True)
class EngineRun:
    """An RD fit on a lazy table and what left the engine."""

    fit: RDFit
    info: dict[str, Any]
    n_obs: int
    n_dropped: int
    engine: str
    transferred: str
    covariates: list[str]


def _require(names: dict[str, str], role: str, name: str) -> None:
    if name not in names:
        close = closest_columns(name, list(names))
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ColumnNotFoundError(f"{role.capitalize()} column {name!r} not found.{hint}")


def _roles(running: str, outcome: str | None, treatment: str | None,
           covariates: list[str] | None, cluster: str | None) -> list[tuple[str, str]]:  # fmt: skip
    roles = [("running", running)] + ([("outcome", outcome)] if outcome is not None else [])
    roles += [("treatment", treatment)] if treatment is not None else []
    roles += [("covariate", z) for z in covariates or []]
    return roles + ([("cluster", cluster)] if cluster is not None else [])


def _drop_missing(lf: Any, roles: list[tuple[str, str]], safe: dict[str, str], missing: str,
                  log: Log) -> tuple[Any, int]:  # fmt: skip
    schema = lf.collect_schema()
    flags = []
    for role, name in roles:
        dtype = schema[safe[name]]
        if role != "cluster" and not (dtype.is_numeric() or dtype == nw.Boolean):
            raise DataError(f"{role.capitalize()} column {name!r} must be numeric; found {dtype}.")
        e = nw.col(safe[name]).is_null()
        if dtype.is_float():
            e = e | nw.col(safe[name]).is_nan().fill_null(True)
        flags.append(e)
    null = nw.any_horizontal(*flags, ignore_nulls=False)
    t = log.table(lf.select(null.cast(nw.Int64).sum().alias("k"), nw.len().alias("n")).collect())
    n_bad, n_all = (int(_num(v)) for v in t.rows()[0])
    if n_all == 0:
        raise DataError("data has no rows; there is nothing to analyse.")
    if n_bad:
        shown = ", ".join(repr(n) for _, n in roles)
        if missing == "raise":
            raise MissingValueError(
                f"Missing values found in {shown} ({n_bad:,} rows). Pass missing='drop' to drop "
                "them (the result records how many), or impute them first."
            )
        warnings.warn(
            f"Dropped {n_bad:,} rows with missing values in {shown}.",
            MissingDataWarning,
            stacklevel=4,
        )
        lf = lf.filter(~null)
    return lf, n_bad


def _side_stats(lf: Any, cols: _Cols, c: float, log: Log) -> dict[bool, dict[str, Any]]:
    aggs = [
        nw.len().alias("n"),
        cols.x.min().alias("x_min"),
        cols.x.max().alias("x_max"),
        cols.x.n_unique().alias("n_distinct"),
    ]
    if cols.t is not None:
        bad = ((cols.t != 0) & (cols.t != 1)).cast(nw.Int64).sum()
        aggs += [cols.t.min().alias("t_min"), cols.t.max().alias("t_max"), bad.alias("nonbinary")]
    if cols.cl is not None:
        aggs.append(nw.col(cols.cl).n_unique().alias("n_clusters"))
    t = log.table(lf.with_columns(__left=cols.x < c).group_by("__left").agg(*aggs).collect())
    return {bool(r["__left"]): r for r in t.rows(named=True)}


def order_stats(lf: Any, x: Any, ranks: set[int], lo: float, hi: float, log: Log) -> dict:
    """Exact order statistics (0-based ranks) by counting rows below a grid of cut points.

    Each query narrows every pending rank's interval to one grid cell; once a cell holds at most
    ``_ROWS_PER_STEP`` rows (or a single value), its rows are collected and sorted.
    """
    pending = {k: (lo, hi, 0) for k in ranks}  # [a, b] inclusive, `below` rows lie under a
    out: dict[int, float] = {}
    while pending:
        aggs, grids = [], {}
        for k, (a, b, _) in pending.items():
            inside = (x >= a) & (x <= b)
            grids[k] = np.linspace(a, b, _GRID + 1)[1:-1]
            aggs += [
                (inside & (x < float(v))).cast(nw.Int64).sum().alias(f"r{k}_{i}")
                for i, v in enumerate(grids[k])
            ]
            aggs += [
                inside.cast(nw.Int64).sum().alias(f"r{k}_n"),
                nw.when(inside).then(x).min().alias(f"r{k}_lo"),
                nw.when(inside).then(x).max().alias(f"r{k}_hi"),
            ]
        row = log.table(lf.select(*aggs).collect()).rows(named=True)[0]
        ready = []
        for k, (a, b, below) in list(pending.items()):
            if row[f"r{k}_lo"] == row[f"r{k}_hi"]:
                out[k] = float(row[f"r{k}_lo"])
                del pending[k]
            elif int(row[f"r{k}_n"]) <= _ROWS_PER_STEP:
                ready.append(k)
            else:
                counts = np.array([int(row[f"r{k}_{i}"]) for i in range(grids[k].size)])
                i = int(np.searchsorted(counts, k - below, side="right"))
                a2, below2 = (
                    (float(grids[k][i - 1]), below + int(counts[i - 1])) if i else (a, below)
                )
                b2 = float(np.nextafter(grids[k][i], -np.inf)) if i < grids[k].size else b
                pending[k] = (a2, b2, below2)
        if ready:
            cond = nw.any_horizontal(
                *[(x >= pending[k][0]) & (x <= pending[k][1]) for k in ready], ignore_nulls=True
            )
            t = lf.filter(cond).select(__v=x).collect()
            vals = np.sort(np.asarray(t["__v"].to_numpy(), dtype=np.float64))
            key = "for the IQR's order statistics"
            log.rows[key] = log.rows.get(key, 0) + vals.size
            for k in ready:
                a, b, below = pending.pop(k)
                cell = vals[(vals >= a) & (vals <= b)]
                out[k] = float(cell[k - below])
    return out


def _iqr(lf: Any, cols: _Cols, n: int, lo: float, hi: float, log: Log) -> float:
    """R's type-2 interquartile range of x (as :func:`truelift.rdd._core.quantile_type2`)."""
    r25, r75 = type2_ranks(n, 0.25), type2_ranks(n, 0.75)
    v = order_stats(lf, cols.x, set(r25) | set(r75), lo, hi, log)

    def q(rr: tuple[int, ...]) -> float:
        return float(0.5 * (v[rr[0]] + v[rr[1]])) if len(rr) == 2 else v[rr[0]]

    return q(r75) - q(r25)


def _kept_covariates(lf: Any, cols: _Cols, log: Log) -> tuple[int, ...]:
    """Covariates kept after the collinearity check (from their Gram matrix, as pivoted QR)."""
    k = len(cols.z)
    aggs = [(cols.z[i] * cols.z[j]).sum().alias(f"g{i}_{j}") for i in range(k) for j in range(i, k)]
    row = log.table(lf.select(*aggs).collect()).rows(named=True)[0]
    g = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            g[i, j] = g[j, i] = _num(row[f"g{i}_{j}"])
    w, v = np.linalg.eigh(g)
    root = (v * np.sqrt(np.maximum(w, 0.0))) @ v.T
    kept = kept_columns(root)
    return tuple(sorted(int(j) for j in (kept if kept is not None else [])))


def prepare(data: Any, running: str, outcome: str | None, treatment: str | None,
            covariates: list[str] | None, cluster: str | None, missing: str,
            log: Log) -> tuple[Any, _Cols, int]:  # fmt: skip
    """Safe names, column checks and the missing-value policy; the roles as expressions."""
    lf, safe = with_safe_names(data)
    roles = _roles(running, outcome, treatment, covariates, cluster)
    for role, name in roles:
        _require(safe, role, name)
    lf, n_dropped = _drop_missing(lf, roles, safe, missing, log)

    def col(name: str) -> Any:
        return nw.col(safe[name]).cast(nw.Float64)

    cols = _Cols(
        x=col(running),
        y=col(outcome) if outcome is not None else nw.lit(0.0),
        t=col(treatment) if treatment is not None else None,
        z=tuple(col(z) for z in covariates or []),
        cl=safe[cluster] if cluster is not None else None,
    )
    return lf, cols, n_dropped


def rd_lazy(
    data: Any,
    *,
    outcome: str,
    running: str,
    cutoff: float,
    treatment: str | None,
    covariates: list[str] | None,
    cluster: str | None,
    spec: RDSpec,
    donut: float,
    missing: str,
    keep: tuple[str, float] | None = None,
    log: Log | None = None,
) -> EngineRun:
    """The RD fit of :func:`truelift.rdd.rdd` with every sum computed in the lazy engine.

    ``keep=("left", c0)`` keeps only the rows with x < c0 (``"right"``: x >= c0), after the
    donut around c0 (placebo cutoffs on one side of the real one). ``log`` collects what left
    the engine (a fresh one if None).
    """
    log = Log() if log is None else log
    lf, cols, n_dropped = prepare(data, running, outcome, treatment, covariates, cluster,
                                  missing, log)  # fmt: skip
    c = float(cutoff)
    c0 = c if keep is None else keep[1]
    if donut > 0:
        lf = lf.filter((cols.x - c0).abs() >= donut)
    if keep is not None:
        lf = lf.filter(cols.x < c0 if keep[0] == "left" else cols.x >= c0)
    kept_names = list(covariates or [])
    if cols.z:
        kept = _kept_covariates(lf, cols, log)
        kept_names = [kept_names[j] for j in kept]
        cols = replace(cols, z=tuple(cols.z[j] for j in kept))
    st = _side_stats(lf, cols, c, log)
    n_obs = sum(int(r["n"]) for r in st.values())
    if donut > 0 and n_obs < 10:
        raise DataError(f"donut={donut} leaves only {n_obs} observations.")
    if treatment is not None:
        bad = sum(int(_num(r["nonbinary"])) for r in st.values())
        if bad:
            raise DataError(
                f"Treatment column {treatment!r} must be binary (0/1 or bool); found {bad:,} "
                "rows with other values."
            )
    if True not in st or False not in st:
        lo = min(float(r["x_min"]) for r in st.values())
        hi = max(float(r["x_max"]) for r in st.values())
        raise DataError(
            f"The cutoff {c:g} must lie strictly inside the range of the running variable "
            f"[{lo:g}, {hi:g}]."
        )
    left, right = (
        {k: (_num(v) if k != "__left" else v) for k, v in st[s].items()} for s in (True, False)
    )
    reason = "nearest-neighbour variance" if spec.vce == "nn" else f"{spec.vce.upper()} leverages"
    fl = EngineFeeder(lf.filter(cols.x < c), cols, c, left, log, spec.nnmatch, reason)
    fr = EngineFeeder(lf.filter(cols.x >= c), cols, c, right, log, spec.nnmatch, reason)

    def scales() -> tuple[float, float, float]:
        row = log.table(
            lf.select(cols.x.std(ddof=1).alias("sx"), cols.y.std(ddof=1).alias("sy")).collect()
        ).rows(named=True)[0]
        iqr = _iqr(lf, cols, n_obs, left["x_min"], right["x_max"], log)
        return float(row["sx"]), float(row["sy"]), iqr

    fit, info = rd_feeders(fl, fr, spec, scales)
    return EngineRun(
        fit=fit,
        info=info,
        n_obs=n_obs,
        n_dropped=n_dropped,
        engine=engine_name(nw.from_native(data) if not isinstance(data, nw.LazyFrame) else data),
        transferred=log.text(),
        covariates=kept_names,
    )
