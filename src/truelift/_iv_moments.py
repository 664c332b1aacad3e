"""IV on a lazy table (DuckDB, polars lazy, Spark): aggregations only, no rows leave the engine.

With one instrument and no covariates or clusters, everything :func:`truelift.iv.iv` reports (the
reduced form, first stage, 2SLS/Wald estimate, classical or HC0/HC1 variances, the effective F and
the Anderson–Rubin set) is a function of three 4 x 4 Gram matrices of w = (1, z, y, d):
G0 = sum w w', G1 = sum z w w', G2 = sum z^2 w w'. Every residual of the model is a linear form
r = w'a, so sum r r' = a'G0 b and the robust meat sum (z - zbar)^2 r r' = a'(G2 - 2 zbar G1 +
zbar^2 G0) b. The 30 distinct sums come from one narwhals aggregation (Gram-matrix form of the
2SLS sandwich; Wooldridge 2010, ch. 5), with y and d centred at their means (a first query of two
numbers): shifting y or d moves none of the model's figures, and centred sums of squares do not
cancel when a mean is large next to its spread.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import narwhals as nw
import numpy as np

from truelift._frame import closest_columns
from truelift._iv_kernels import _TSLS, _Stage
from truelift.engines import with_safe_names
from truelift.errors import (
    ColumnNotFoundError,
    DataError,
    IdentificationError,
    MissingDataWarning,
    MissingValueError,
)


@dataclass(frozen=True)
class GramMoments:
    """Gram matrices of w = (1, z, y, d) and the counts the checks need."""

    G0: np.ndarray
    G1: np.ndarray
    G2: np.ndarray
    n_dropped: int
    nonbinary: dict[str, int]
    S: np.ndarray | None = None  # per cluster: (G, 2, 4) = [sum w, sum z w] over its rows
    # y and d enter centred near their means (w = (1, z, y - shift[2], d - shift[3])): the
    # model's estimates and variances do not move, and the sums of squares do not cancel when
    # a mean is large next to its spread; the arms' means add it back
    shift: np.ndarray = field(default_factory=lambda: np.zeros(4))

    @property
    def n(self) -> int:
        return round(self.G0[0, 0])


def _columns(lf: Any, names: dict[str, str], shown: dict[str, str]) -> dict[str, Any]:
    schema = lf.collect_schema()
    exprs: dict[str, Any] = {}
    for role, name in names.items():
        dtype = schema[name]
        if not (dtype.is_numeric() or dtype == nw.Boolean):
            raise DataError(
                f"{role.capitalize()} column {shown[role]!r} must be numeric; found dtype {dtype}."
            )
        exprs[role] = nw.col(name).cast(nw.Float64)
    return exprs


def _aggregations(e: dict[str, Any], raw: dict[str, Any]) -> list[Any]:
    """The Gram sums of ``e`` (y and d centred) and the 0/1 checks of the ``raw`` columns."""
    w = [None, e["instrument"], e["outcome"], e["treatment"]]  # None: the constant 1
    z = e["instrument"]
    aggs = []
    for p in range(3):
        for i in range(4):
            for j in range(i, 4):
                factors = [f for f in (w[i], w[j]) if f is not None] + [z] * p
                name = f"g{p}_{i}{j}"
                if not factors:
                    aggs.append(nw.len().cast(nw.Float64).alias(name))
                    continue
                term = factors[0]
                for f in factors[1:]:
                    term = term * f
                aggs.append(term.sum().alias(name))
    for role in ("instrument", "treatment"):
        bad = ((raw[role] != 0) & (raw[role] != 1)).cast(nw.Float64)
        aggs.append(bad.sum().alias(f"nonbinary_{role}"))
    return aggs


def gram_moments(
    data_lf: Any,
    *,
    instrument: str,
    outcome: str,
    treatment: str,
    cluster: str | None = None,
    missing: str = "raise",
) -> GramMoments:
    """Aggregate the Gram matrices inside the engine (rows with a null are counted, then kept out).

    With ``cluster``, a second query sums w and z w per cluster (G x 7 numbers leave the engine).
    """
    lf, safe = with_safe_names(data_lf)
    names = {"instrument": instrument, "outcome": outcome, "treatment": treatment}
    used = {**names, **({"cluster": cluster} if cluster is not None else {})}
    for role, name in used.items():
        if name not in safe:
            close = closest_columns(name, list(safe))
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ColumnNotFoundError(f"{role.capitalize()} column {name!r} not found.{hint}")
    e = _columns(lf, {r: safe[n] for r, n in names.items()}, names)
    null = nw.any_horizontal(
        *[nw.col(safe[n]).is_null() for n in used.values()], ignore_nulls=False
    )
    # one small query for the means of y and d over the complete rows, to centre them
    means = (
        lf.filter(~null)
        .select(e["outcome"].mean().alias("y"), e["treatment"].mean().alias("d"))
        .collect()
    )
    shift = np.zeros(4)
    got = [means[k].to_numpy()[0] for k in ("y", "d")]
    shift[2:] = [float(v) if v is not None and np.isfinite(v) else 0.0 for v in got]
    ec = {**e, "outcome": e["outcome"] - shift[2], "treatment": e["treatment"] - shift[3]}
    aggs = _aggregations(ec, e)
    table = lf.with_columns(__null=null).group_by("__null").agg(*aggs).collect()
    rows = {bool(r["__null"]): r for r in table.rows(named=True)}
    if not rows:
        raise DataError("data has no rows; there is nothing to analyse.")
    n_dropped = round(rows[True]["g0_00"]) if True in rows else 0
    if n_dropped:
        _missing(n_dropped, list(used.values()), missing)
    if False not in rows:
        raise DataError("no rows without missing values; there is nothing to analyse.")
    m = replace(_unpack(rows[False], n_dropped), shift=shift)
    if cluster is None:
        return m
    return replace(m, S=_cluster_sums(lf.filter(~null), ec, safe[cluster]))


def _missing(n_dropped: int, columns: list[str], missing: str) -> None:
    shown = ", ".join(repr(c) for c in columns)
    if missing == "raise":
        raise MissingValueError(
            f"Missing values found in {shown} ({n_dropped:,} rows). Pass missing='drop' to drop "
            "them (the result records how many), or impute them first."
        )
    warnings.warn(
        f"Dropped {n_dropped:,} rows with missing values in {shown}.",
        MissingDataWarning,
        stacklevel=5,
    )


def _cluster_sums(lf: Any, e: dict[str, Any], cluster: str) -> np.ndarray:
    z, y, d = e["instrument"], e["outcome"], e["treatment"]
    exprs = {"n": None, "z": z, "y": y, "d": d, "zz": z * z, "zy": z * y, "zd": z * d}
    aggs = [
        nw.len().cast(nw.Float64).alias(k) if x is None else x.sum().alias(k)
        for k, x in exprs.items()
    ]
    t = lf.group_by(cluster).agg(*aggs).collect()
    col = {k: np.asarray(t[k].to_numpy(), dtype=float) for k in exprs}
    S = np.empty((len(t), 2, 4))
    S[:, 0] = np.column_stack([col["n"], col["z"], col["y"], col["d"]])
    S[:, 1] = np.column_stack([col["z"], col["zz"], col["zy"], col["zd"]])
    return S


def _unpack(row: dict[str, Any], n_dropped: int) -> GramMoments:
    G = np.zeros((3, 4, 4))
    for p in range(3):
        for i in range(4):
            for j in range(i, 4):
                G[p, i, j] = G[p, j, i] = float(row[f"g{p}_{i}{j}"] or 0.0)
    if not np.all(np.isfinite(G)):
        raise DataError(
            "the instrument, outcome or treatment has infinite values; infinite values cannot be "
            "analysed. Fix or remove those rows."
        )
    nonbinary = {r: round(row[f"nonbinary_{r}"] or 0) for r in ("instrument", "treatment")}
    return GramMoments(G[0], G[1], G[2], n_dropped, nonbinary)


def _check(m: GramMoments, names: dict[str, str]) -> None:
    n = m.n
    if n < 4:
        raise DataError(f"only {n:,} usable rows; the design needs at least 4.")
    centred = m.G0[0] / n
    mean = centred + m.shift
    for idx, role in ((2, "outcome"), (3, "treatment"), (1, "instrument")):
        var = m.G0[idx, idx] / n - centred[idx] ** 2
        if not var > 1e-12 * max(1.0, mean[idx] ** 2):
            raise DataError(
                f"{role.capitalize()} column {names[role]!r} is constant ({mean[idx]:g}); "
                "there is no variation to compare."
            )


def stages_from_moments(m: GramMoments, vce: str, names: dict[str, str]) -> tuple[_Stage, _TSLS]:
    """Reduced form, first stage and 2SLS (with the constant as the only exogenous regressor)."""
    _check(m, names)
    G0, n = m.G0, m.n
    zb, yb, db = G0[0, 1:] / n
    Szz = G0[1, 1] - n * zb * zb
    Szy, Szd = G0[1, 2] - n * zb * yb, G0[1, 3] - n * zb * db
    gamma, pi = Szy / Szz, Szd / Szz
    a_e = np.array([-(yb - gamma * zb), -gamma, 1.0, 0.0])
    a_v = np.array([-(db - pi * zb), -pi, 0.0, 1.0])
    H = m.G2 - 2 * zb * m.G1 + zb * zb * G0  # sum (z - zbar)^2 w w'
    k = 2  # constant + instrument in each stage; constant + treatment in 2SLS
    if m.S is not None:  # CR1: cluster scores sum_{i in g} (z_i - zbar) w_i, projected on each a
        s_g = m.S[:, 1] - zb * m.S[:, 0]
        G = s_g.shape[0]
        if G < 2:
            raise DataError("cluster-robust variance needs at least 2 clusters; found 1.")
        factor = (G / (G - 1)) * ((n - 1) / (n - k))
        H = factor * (s_g.T @ s_g)
        vce = "hc0"  # H already holds the CR1 meat
    if vce == "classical":
        s = np.array([[a @ G0 @ b for b in (a_e, a_v)] for a in (a_e, a_v)]) / (n - k)
        V = s / Szz
    else:
        factor = n / (n - k) if vce == "hc1" else 1.0
        V = factor * np.array([[a @ H @ b for b in (a_e, a_v)] for a in (a_e, a_v)]) / Szz**2
    st = _Stage(np.array([gamma]), np.array([pi]), V, np.array([[Szz]]), n, k)
    denom = pi * pi * Szz
    if not denom > 0:
        raise IdentificationError(
            "the instrument does not move the treatment at all (first stage is exactly zero); "
            "the effect is not identified."
        )
    beta = Szy / Szd
    a_u = np.array([-(yb - beta * db), 0.0, 1.0, -beta])
    if vce == "classical":
        var = float(a_u @ G0 @ a_u) / (n - k) / denom
    else:
        factor = n / (n - k) if vce == "hc1" else 1.0
        var = factor * pi * pi * float(a_u @ H @ a_u) / denom**2
    return st, _TSLS(float(beta), float(np.sqrt(max(var, 0.0))), np.empty(0))


def arms_from_moments(m: GramMoments) -> dict[str, Any]:
    """Counts, take-up and mean outcome by arm of a 0/1 instrument (as ``iv._arms``)."""
    n, n1 = float(m.G0[0, 0]), float(m.G0[0, 1])
    s1y, s1d = float(m.G1[0, 2]), float(m.G1[0, 3])
    s0y, s0d = float(m.G0[0, 2]) - s1y, float(m.G0[0, 3]) - s1d
    cy, cd = float(m.shift[2]), float(m.shift[3])
    out: dict[str, Any] = {
        "access": {"n": round(n1), "take_up": s1d / n1 + cd, "mean_outcome": s1y / n1 + cy},
        "no access": {
            "n": round(n - n1),
            "take_up": s0d / (n - n1) + cd,
            "mean_outcome": s0y / (n - n1) + cy,
        },
    }
    at, nt = out["no access"]["take_up"], 1 - out["access"]["take_up"]
    out["shares"] = {"always_takers": at, "never_takers": nt, "compliers": 1 - at - nt}
    return out
