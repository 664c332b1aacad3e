"""A/B readouts on lazy tables: the sufficient statistics come from narwhals group-bys in the engine.

:func:`truelift.experiment.ab_test` on a DuckDB relation, a polars LazyFrame or a PySpark / Spark
Connect DataFrame runs the same kernel as on an in-memory frame (:mod:`._moments`), fed with
:class:`~truelift.experiment._stats.SufficientStats` computed where the rows live. Queries, each a
narwhals lazy expression (column names reach the engine only as quoted identifiers; Spark columns
are renamed by position first, see :func:`truelift.engines.with_safe_names`):

1. only with categorical covariates: the distinct levels of each (for the one-hot indicators);
2. only with ``winsorize=``: the pooled quantile of each metric (the cap) and a 0/1 check;
3. the main one: ``GROUP BY missing-flag, variant`` with the count and every sum and cross-product
   of ``w = [metric components, covariates]`` (``(1+p)(2+p)/2`` numbers per arm), the power sums
   of each mean metric up to the fourth (kurtosis) and the missing-value counts per column; for a
   cluster-randomized test ``GROUP BY missing-flag, cluster, variant`` with counts and sums
   (per-cluster sums leave the engine, then the in-memory cluster kernel runs on them);
4. only for a heavy-tailed metric (excess kurtosis > 20): its pooled 99th percentile, then the
   per-arm sums of the raw and the capped metric (the winsorization check).

The rows never leave the engine; ``details["transferred"]`` says what did.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import narwhals as nw
import numpy as np

from truelift._frame import closest_columns
from truelift.engines import engine_name, with_safe_names
from truelift.errors import ColumnNotFoundError, DataError, MissingDataWarning, MissingValueError
from truelift.experiment import _moments as mo
from truelift.experiment._stats import (
    Metric,
    SufficientStats,
    cluster_stats,
    mixed_clusters_error,
    row_comps,
)
from truelift.experiment._tails import (
    HEAVY_KURTOSIS,
    WINSOR_Q,
    TailStats,
    kurtosis_from_sums,
)

__all__ = ["lazy_arm_counts", "lazy_stats"]

NULL = "__truelift_null__"


def _require(names: dict[str, str], role: str, name: str) -> None:
    if name not in names:
        close = closest_columns(name, list(names))
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ColumnNotFoundError(f"{role.capitalize()} column {name!r} not found.{hint}")


def _is_categorical(dtype: Any) -> bool:
    return bool(dtype == nw.String or dtype == nw.Categorical or dtype == nw.Enum)


class _Query:
    """The columns of one ab_test call on one lazy frame, with safe names and a missing flag."""

    def __init__(self, lf: Any, used: dict[str, str]) -> None:
        self.engine = engine_name(lf)
        frame, self.safe = with_safe_names(lf)
        for role, name in used.items():
            _require(self.safe, role, name)
        self.schema = frame.collect_schema()
        self.used = list(dict.fromkeys(used.values()))
        flags = []
        for name in self.used:
            col = nw.col(self.safe[name])
            flags.append(col.is_null())
            if self.schema[self.safe[name]].is_float():
                flags.append(col.is_nan())
        self.frame = frame.with_columns(nw.any_horizontal(*flags, ignore_nulls=False).alias(NULL))
        self.kept = self.frame.filter(~nw.col(NULL))
        self.sent: list[str] = []

    def col(self, name: str) -> Any:
        return nw.col(self.safe[name])

    def numeric(self, role: str, name: str) -> Any:
        dtype = self.schema[self.safe[name]]
        if not (dtype.is_numeric() or dtype == nw.Boolean):
            raise DataError(
                f"{role.capitalize()} column {name!r} must be numeric; found dtype {dtype}. "
                "Convert it to numbers or encode it."
            )
        return self.col(name).cast(nw.Float64)


def _rows(table: Any) -> dict[str, np.ndarray]:
    return {c: np.asarray(table[c].to_numpy()) for c in table.columns}


def _floats(x: np.ndarray) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in x.tolist()], dtype=float)


def _covariates(q: _Query, covs: Sequence[str]) -> tuple[list[Any], list[str], list[bool]]:
    """Covariate expressions (categorical ones one-hot against their first sorted level), their
    names, and which are numeric columns (those must vary)."""
    exprs: list[Any] = []
    names: list[str] = []
    is_num: list[bool] = []
    for name in covs:
        if not _is_categorical(q.schema[q.safe[name]]):
            exprs.append(q.numeric("covariate", name))
            names.append(name)
            is_num.append(True)
            continue
        text = q.col(name).cast(nw.String)
        table = q.kept.select(text.alias("__lev")).unique().collect()
        q.sent.append(f"levels of {name!r}")
        levels = np.unique(np.asarray(table["__lev"].to_numpy()).astype(str))
        if levels.size < 2:
            raise DataError(
                f"Covariate {name!r} takes a single value ({levels[0]!r}) in every row; "
                "it carries no information. Remove it from covariates."
            )
        for lev in levels[1:]:
            exprs.append((text == str(lev)).cast(nw.Float64))
            names.append(f"{name}[{lev}]")
            is_num.append(False)
    return exprs, names, is_num


def _capped(q: _Query, comps: list[Any], first: list[bool], winsor: float) -> list[Any]:
    """Cap each metric (the numerator of a ratio) at its pooled ``winsor`` quantile if not 0/1."""
    idx = [i for i, f in enumerate(first) if f]
    aggs = []
    for i in idx:
        aggs.append(comps[i].quantile(winsor, "linear").alias(f"q{i}"))
        aggs.append(((comps[i] != 0) & (comps[i] != 1)).cast(nw.Float64).sum().alias(f"b{i}"))
    row = q.kept.select(*aggs).collect().rows(named=True)[0]
    q.sent.append(f"pooled {winsor:g} quantile of {len(idx)} metric(s)")
    out = list(comps)
    for i in idx:
        if (row[f"b{i}"] or 0) > 0:
            cap = float(row[f"q{i}"])
            out[i] = nw.when(comps[i] > cap).then(nw.lit(cap)).otherwise(comps[i])
    return out


def _missing(q: _Query, t: dict[str, np.ndarray], missing: str) -> tuple[np.ndarray, int]:
    """Apply the missing-value policy to the aggregated table; the mask of the complete groups."""
    null = t[NULL].astype(bool)
    n = _floats(t["__n"])
    n_dropped = int(n[null].sum())
    if n_dropped:
        by = {name: int(np.nansum(_floats(t[f"__null{i}"])[null])) for i, name in enumerate(q.used)}
        summary = ", ".join(f"{k!r}: {v:,}" for k, v in by.items() if v)
        if missing == "raise":
            raise MissingValueError(
                f"Missing values found ({summary}). Pass missing='drop' to drop those rows "
                "(the result records how many), or impute them first."
            )
        warnings.warn(
            f"Dropped {n_dropped:,} of {int(n.sum()):,} rows with missing values ({summary}).",
            MissingDataWarning,
            stacklevel=4,
        )
    if not (~null).any():
        raise DataError("data has no rows without missing values; there is nothing to analyse.")
    return ~null, n_dropped


def _levels(values: np.ndarray, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct variant values and each row's level index."""
    levels, codes = np.unique(values, return_inverse=True)
    if levels.size < 2:
        raise DataError(
            f"Variant column {variant!r} has a single value ({levels[0]!r}) in all rows; an A/B "
            "test needs at least two arms."
        )
    return levels, codes.astype(np.int64)


def _means(q: _Query, exprs: list[Any]) -> np.ndarray:
    """(0, the mean of each expression over the rows where it is not null): one small query."""
    shift = np.zeros(len(exprs) + 1)
    if exprs:
        row = q.frame.select(*[e.mean().alias(f"__m{i}") for i, e in enumerate(exprs)]).collect()
        got = _floats(np.asarray([row[f"__m{i}"].to_numpy()[0] for i in range(len(exprs))]))
        shift[1:] = np.where(np.isfinite(got), got, 0.0)  # no values, or infinite ones: no shift
        q.sent.append(f"the mean of {len(exprs)} column(s) to centre them (1 row)")
    return shift


def _check_variation(
    total: np.ndarray,
    metrics: list[Metric],
    numeric: dict[str, str],
    x: list[tuple[str, bool]],
    shift: np.ndarray,
) -> None:
    """Constant outcomes and covariates, infinite values: the in-memory boundary's checks.
    ``total`` holds the pooled cross-products of the columns less ``shift``."""
    if not np.all(np.isfinite(total)):
        raise DataError(
            "a metric or covariate has infinite values; infinite values cannot be analysed. "
            "Fix or remove those rows."
        )
    n = total[0, 0]
    centred = total[0] / n
    var = np.diag(total) / n - centred**2
    mean = centred + shift
    pos = 1
    for m in metrics:
        outcome = m.kind == "mean" and m.columns[0].startswith("outcome")
        if outcome and not var[pos] > 1e-12 * max(1.0, mean[pos] ** 2):
            raise DataError(
                f"Outcome column {numeric[m.columns[0]]!r} is constant ({mean[pos]:g}); there is "
                "no variation to compare."
            )
        pos += len(m.columns)
    for j, (name, is_num) in enumerate(x):
        if is_num and not var[pos + j] > 1e-12 * max(1.0, mean[pos + j] ** 2):
            raise DataError(
                f"Covariate {name!r} is constant ({mean[pos + j]:g}) in every row; it cannot be "
                "adjusted for and makes the design singular. Remove it from covariates."
            )


def lazy_stats(
    lf: Any,
    *,
    metrics: list[Metric],
    numeric: dict[str, str],
    variant: str,
    cluster: str | None,
    covariates: Sequence[str] | None,
    missing: str,
    winsor: float | None,
) -> SufficientStats:
    """The A/B kernel's sufficient statistics, aggregated inside the engine behind ``lf``."""
    if missing not in ("raise", "drop"):
        raise DataError(f"missing must be 'raise' or 'drop'; got {missing!r}.")
    covs = list(covariates or [])
    if len(set(covs)) != len(covs):
        raise DataError(f"covariates contain duplicates: {covs}.")
    used = {"variant": variant, **numeric, **({"cluster": cluster} if cluster else {})}
    used.update({f"covariate {c}": c for c in covs})
    q = _Query(lf, used)
    roles = [role for m in metrics for role in m.columns]
    raw = [q.numeric(role, numeric[role]) for role in roles]
    first = [j == 0 for m in metrics for j in range(len(m.columns))]
    x_exprs, x_names, x_num = _covariates(q, covs)
    x = list(zip(x_names, x_num, strict=True))
    comps = raw if winsor is None else _capped(q, raw, first, winsor)
    if cluster is None:
        return _row_stats(q, metrics, numeric, comps, raw, x_exprs, x, variant, missing)
    return _cluster_stats(q, metrics, numeric, comps, x_exprs, x, variant, cluster, missing)


def _heads(metrics: list[Metric]) -> list[int]:
    """Component index of each mean metric."""
    pos = np.cumsum([0] + [len(m.columns) for m in metrics])
    return [int(pos[mi]) for mi, m in enumerate(metrics) if m.kind == "mean"]


def _null_counts(q: _Query) -> list[Any]:
    return [
        q.col(name).is_null().cast(nw.Float64).sum().alias(f"__null{i}")
        for i, name in enumerate(q.used)
    ]


def _row_stats(
    q: _Query,
    metrics: list[Metric],
    numeric: dict[str, str],
    comps: list[Any],
    raw: list[Any],
    x_exprs: list[Any],
    x: list[tuple[str, bool]],
    variant: str,
    missing: str,
) -> SufficientStats:
    P = len(comps + x_exprs) + 1
    # every column centred near its mean (one small query first), so the centred cross-products
    # do not cancel when a metric's mean is large next to its spread (see mo.ArmMoments)
    shift = _means(q, comps + x_exprs)
    w = [a - shift[i] for i, a in enumerate(comps + x_exprs, start=1)]
    aggs = [nw.len().cast(nw.Float64).alias("__n"), *_null_counts(q)]
    for i, a in enumerate(w, start=1):
        aggs.append(a.sum().alias(f"__s{i}"))
        aggs += [(a * w[j - 1]).sum().alias(f"__p{i}_{j}") for j in range(i, P)]
    heads = _heads(metrics)
    for i in heads:
        y = raw[i]
        aggs += [(y**p).sum().alias(f"__r{i}_{p}") for p in range(1, 5)]
        aggs.append(((y != 0) & (y != 1)).cast(nw.Float64).sum().alias(f"__b{i}"))
    table = _rows(q.frame.group_by(NULL, q.safe[variant]).agg(*aggs).collect())
    keep, n_dropped = _missing(q, table, missing)
    levels, codes = _levels(table[q.safe[variant]][keep], variant)
    L = levels.size
    cross = np.zeros((L, P, P))
    cross[codes, 0, 0] = _floats(table["__n"][keep])
    for i in range(1, P):
        cross[codes, 0, i] = cross[codes, i, 0] = _floats(table[f"__s{i}"][keep])
        for j in range(i, P):
            cross[codes, i, j] = cross[codes, j, i] = _floats(table[f"__p{i}_{j}"][keep])
    _check_variation(cross.sum(0), metrics, numeric, x, shift)
    mom = mo.ArmMoments(cross, m=len(comps), k=len(x_exprs), shift=shift)
    q.sent.append(
        f"per-arm count, sums and cross-products of {P - 1} column(s) "
        f"({L} rows x {P * (P + 1) // 2} numbers)"
    )
    tails = _tails(q, metrics, raw, table, keep, levels, variant)
    n = cross[:, 0, 0].astype(np.int64)
    sent = q.sent
    return SufficientStats(
        mom, row_comps(metrics), n, n, levels, tuple(name for name, _ in x), n_dropped, tails,
        engine=q.engine, transferred="; ".join(sent),
    )  # fmt: skip


def _tails(
    q: _Query,
    metrics: list[Metric],
    raw: list[Any],
    table: dict[str, np.ndarray],
    keep: np.ndarray,
    levels: np.ndarray,
    variant: str,
) -> tuple[TailStats | None, ...]:
    """Heavy-tail statistics of each mean metric (two more queries only if one is heavy)."""
    pos = np.cumsum([0] + [len(m.columns) for m in metrics])
    kurt: dict[int, float] = {}
    for mi, m in enumerate(metrics):
        i = int(pos[mi])
        if m.kind != "mean" or np.nansum(_floats(table[f"__b{i}"][keep])) == 0:
            continue
        n = float(np.sum(_floats(table["__n"][keep])))
        s = [float(np.sum(_floats(table[f"__r{i}_{p}"][keep]))) for p in range(1, 5)]
        k = kurtosis_from_sums(n, *s)
        if k > HEAVY_KURTOSIS:
            kurt[mi] = k
    if not kurt:
        return (None,) * len(metrics)
    ys = {mi: raw[int(pos[mi])] for mi in kurt}
    row = (
        q.kept.select(*[y.quantile(WINSOR_Q, "linear").alias(f"q{mi}") for mi, y in ys.items()])
        .collect()
        .rows(named=True)[0]
    )
    caps = {mi: float(row[f"q{mi}"]) for mi in ys}
    aggs = [nw.len().cast(nw.Float64).alias("__n")]
    for mi, y in ys.items():
        c = nw.when(y > caps[mi]).then(nw.lit(caps[mi])).otherwise(y)
        aggs += [y.sum().alias(f"y{mi}"), (y * y).sum().alias(f"yy{mi}")]
        aggs += [c.sum().alias(f"c{mi}"), (c * c).sum().alias(f"cc{mi}")]
    t = _rows(q.kept.group_by(q.safe[variant]).agg(*aggs).collect())
    idx = np.searchsorted(levels, t[q.safe[variant]])
    q.sent.append(f"pooled {WINSOR_Q:.0%} quantile and per-arm capped sums of {len(ys)} metric(s)")
    out: list[TailStats | None] = [None] * len(metrics)
    for mi in ys:
        arrays = []
        for a, b in ((f"y{mi}", f"yy{mi}"), (f"c{mi}", f"cc{mi}")):
            arr = np.zeros((levels.size, 3))
            arr[idx] = np.column_stack([_floats(t["__n"]), _floats(t[a]), _floats(t[b])])
            arrays.append(arr)
        out[mi] = TailStats(kurt[mi], caps[mi], arrays[0], arrays[1])
    return tuple(out)


def _cluster_stats(
    q: _Query,
    metrics: list[Metric],
    numeric: dict[str, str],
    comps: list[Any],
    x_exprs: list[Any],
    x: list[tuple[str, bool]],
    variant: str,
    cluster: str,
    missing: str,
) -> SufficientStats:
    w = comps + x_exprs
    aggs = [nw.len().cast(nw.Float64).alias("__n"), *_null_counts(q)]
    aggs += [a.sum().alias(f"__s{i}") for i, a in enumerate(w)]
    aggs += [(a * a).sum().alias(f"__ss{i}") for i, a in enumerate(w)]  # for the checks only
    keys = (NULL, q.safe[cluster], q.safe[variant])
    table = _rows(q.frame.group_by(*keys).agg(*aggs).collect())
    keep, n_dropped = _missing(q, table, missing)
    levels, codes = _levels(table[q.safe[variant]][keep], variant)
    _, per_cluster = np.unique(table[q.safe[cluster]][keep], return_counts=True)
    if (per_cluster > 1).any():
        raise mixed_clusters_error(int((per_cluster > 1).sum()))
    size = _floats(table["__n"][keep])
    S = np.column_stack([_floats(table[f"__s{i}"][keep]) for i in range(len(w))])
    total = np.diag(np.r_[0.0, [np.sum(_floats(table[f"__ss{i}"][keep])) for i in range(len(w))]])
    total[0, 0], total[0, 1:] = size.sum(), S.sum(0)
    _check_variation(total, metrics, numeric, x, np.zeros(len(w) + 1))
    mom, comp_idx, n_units, n_rows = cluster_stats(
        codes, size, S[:, : len(comps)], S[:, len(comps) :], metrics, levels.size
    )
    sent = [*q.sent, f"per-cluster count and sums of {len(w)} column(s) ({size.size} rows)"]
    return SufficientStats(
        mom, comp_idx, n_units, n_rows.astype(np.int64), levels, tuple(name for name, _ in x), n_dropped,
        (None,) * len(metrics), engine=q.engine, transferred="; ".join(sent),
    )  # fmt: skip


def lazy_arm_counts(lf: Any, *, variant: str, missing: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows per variant level (sorted levels), counted inside the engine (for the SRM check)."""
    q = _Query(lf, {"variant": variant})
    aggs = [nw.len().cast(nw.Float64).alias("__n"), *_null_counts(q)]
    table = _rows(q.frame.group_by(NULL, q.safe[variant]).agg(*aggs).collect())
    keep, _ = _missing(q, table, missing)
    levels, codes = _levels(table[q.safe[variant]][keep], variant)
    counts = np.bincount(codes, weights=_floats(table["__n"][keep]), minlength=levels.size)
    return levels, counts.astype(np.int64)


def lazy_design_sums(
    lf: Any, *, outcome: str, covariates: Sequence[str], cluster: str | None, missing: str
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray | None, str]:
    """Pooled cross-products of ``[1, y, x]`` and (with ``cluster``) per-cluster count and sum of
    y, aggregated in the engine (for :func:`truelift.experiment.power_inputs`)."""
    used = {"outcome": outcome, **({"cluster": cluster} if cluster else {})}
    used.update({f"covariate {c}": c for c in covariates})
    q = _Query(lf, used)
    x_exprs, x_names, x_num = _covariates(q, covariates)
    w = [q.numeric("outcome", outcome), *x_exprs]
    P = len(w) + 1
    aggs = [nw.len().cast(nw.Float64).alias("__n"), *_null_counts(q)]
    for i, a in enumerate(w, start=1):
        aggs.append(a.sum().alias(f"__s{i}"))
        aggs += [(a * w[j - 1]).sum().alias(f"__p{i}_{j}") for j in range(i, P)]
    table = _rows(q.frame.group_by(NULL).agg(*aggs).collect())
    keep, _ = _missing(q, table, missing)
    total = np.zeros((P, P))
    total[0, 0] = _floats(table["__n"][keep]).sum()
    for i in range(1, P):
        total[0, i] = total[i, 0] = _floats(table[f"__s{i}"][keep]).sum()
        for j in range(i, P):
            total[i, j] = total[j, i] = _floats(table[f"__p{i}_{j}"][keep]).sum()
    metric = [Metric(outcome, "mean", ("outcome",))]
    checks = list(zip(x_names, x_num, strict=True))
    _check_variation(total, metric, {"outcome": outcome}, checks, np.zeros(P))
    sent = [*q.sent, f"count, sums and cross-products of {P - 1} column(s) (1 row)"]
    groups = None
    if cluster is not None:
        aggs = [nw.len().cast(nw.Float64).alias("__n"), w[0].sum().alias("__s")]
        g = _rows(q.kept.group_by(q.safe[cluster]).agg(*aggs).collect())
        groups = np.column_stack([_floats(g["__n"]), _floats(g["__s"])])
        sent.append(f"per-cluster count and sum of the outcome ({len(groups)} rows)")
    return total, tuple(x_names), groups, "; ".join(sent)
