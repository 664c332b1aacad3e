"""Aggregations of ATT(g,t) with their influence functions (Callaway & Sant'Anna 2021, sec. 3).

Each aggregation is a weighted average of ATT(g,t) whose weights are estimated cohort shares
``P(G = g)``; its influence function is the weighted sum of the ATT(g,t) influence functions plus
the estimated-weights term (``wif`` in R ``did``'s ``compute.aggte``). Standard errors follow
``getSE``: ``sqrt(mean(psi^2) / n)`` (CR1-clustered when clusters are given).

Also here: the multiplier bootstrap for uniform (sup-t) bands (R ``did::mboot``; Rademacher
weights) and the joint Wald pre-test of the pre-treatment ATT(g,t).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from truelift.inference import cluster_sums

__all__ = ["Aggregate", "Rows", "aggregate", "multiplier_crit", "pretest"]


@dataclass(frozen=True)
class Aggregate:
    """One aggregated effect: point estimate, n-vector influence function, weights on ATT(g,t)."""

    label: str
    att: float
    psi: np.ndarray
    weights: np.ndarray
    key: float | None = None
    parts: tuple[Aggregate, ...] = field(default=())


def _wif_times_att(
    keep: np.ndarray, pg: np.ndarray, groups: np.ndarray, unit_g: np.ndarray, att: np.ndarray
) -> np.ndarray:
    """``wif(keepers, ...) %*% att[keepers]`` of R did without forming the n x k matrix.

    ``groups[j]`` is the cohort whose indicator enters column j; R's ``wif`` uses ``group[k]``.
    """
    pk, ak, gk = pg[keep], att[keep], groups[keep]
    s = pk.sum()
    # sum_j (1{G_i = g_j} - pg_j) * a_j  and  sum_j (1{G_i = g_j} - pg_j)
    uniq = np.unique(gk)
    a_by_g = np.array([ak[gk == u].sum() for u in uniq])
    c_by_g = np.array([(gk == u).sum() for u in uniq], dtype=float)
    idx = np.searchsorted(uniq, unit_g)
    hit = (idx < uniq.size) & (uniq[np.minimum(idx, uniq.size - 1)] == unit_g)
    ind_a = np.where(hit, a_by_g[np.minimum(idx, uniq.size - 1)], 0.0)
    ind_c = np.where(hit, c_by_g[np.minimum(idx, uniq.size - 1)], 0.0)
    term1 = (ind_a - np.dot(pk, ak)) / s
    term2 = (ind_c - pk.sum()) * np.dot(pk, ak) / s**2
    return term1 - term2


@dataclass(frozen=True)
class Rows:
    """What the rows of ``inf`` stand for: units (``mult`` None) or pseudo-rows built from
    per-cohort moments (:mod:`truelift.did._cs_moments`), whose per-unit constants (the
    estimated-weights term) enter multiplied by ``mult``, with the true cohort shares."""

    unit_g: np.ndarray
    mult: np.ndarray | None = None
    shares: dict[float, float] | None = None


def _weighted(
    name: str,
    keep: np.ndarray,
    att: np.ndarray,
    inf: np.ndarray,
    pg: np.ndarray,
    groups: np.ndarray,
    rows: Rows,
    key: float | None = None,
    with_wif: bool = True,
) -> Aggregate:
    w = np.zeros(att.size)
    w[keep] = pg[keep] / pg[keep].sum()
    psi = inf[:, keep] @ w[keep]
    if with_wif:
        wif = _wif_times_att(keep, pg, groups, rows.unit_g, att)
        psi = psi + (wif if rows.mult is None else wif * rows.mult)
    return Aggregate(name, float(w @ att), psi, w, key)


def _average(name: str, parts: list[Aggregate]) -> Aggregate:
    k = len(parts)
    psi = np.sum([p.psi for p in parts], axis=0) / k
    w = np.sum([p.weights for p in parts], axis=0) / k
    return Aggregate(name, float(np.mean([p.att for p in parts])), psi, w, None, tuple(parts))


def aggregate(
    kind: str,
    att: np.ndarray,
    inf: np.ndarray,
    group: np.ndarray,
    period: np.ndarray,
    unit_g: np.ndarray | Rows,
) -> Aggregate:
    """The ``simple``/``group``/``dynamic``/``calendar`` aggregation of R ``did::aggte``.

    ``att``/``group``/``period`` describe the K ATT(g,t); ``inf`` is their n x K influence
    functions; ``unit_g`` each unit's cohort (0 = never treated) in the same n order (or a
    :class:`Rows` for pseudo-rows).
    """
    rows = unit_g if isinstance(unit_g, Rows) else Rows(unit_g)
    glist = np.unique(group)
    if rows.shares is None:
        pgg = np.array([np.mean(rows.unit_g == g) for g in glist])
    else:
        pgg = np.array([rows.shares.get(float(g), 0.0) for g in glist])
    pg = pgg[np.searchsorted(glist, group)]
    post = group <= period
    if kind == "simple":
        return _weighted("ATT (simple)", np.flatnonzero(post), att, inf, pg, group, rows)
    if kind == "group":
        return _group(att, inf, group, period, rows, glist, pgg, pg)
    if kind == "dynamic":
        e = period - group
        parts = [
            _weighted(f"e={_num(v)}", np.flatnonzero(e == v), att, inf, pg, group, rows, v)
            for v in np.unique(e)
        ]
        top = _average("ATT (dynamic)", [p for p in parts if p.key is not None and p.key >= 0])
        return Aggregate(top.label, top.att, top.psi, top.weights, None, tuple(parts))
    # calendar
    parts = [
        _weighted(
            f"t={_num(v)}", np.flatnonzero((period == v) & post), att, inf, pg, group, rows, v
        )
        for v in np.unique(period[period >= group.min()])
    ]
    return _average("ATT (calendar)", parts)


def _group(att, inf, group, period, rows, glist, pgg, pg) -> Aggregate:  # type: ignore[no-untyped-def]
    post = group <= period
    parts = [
        _weighted(
            f"g={_num(g)}",
            np.flatnonzero((group == g) & post),
            att,
            inf,
            pg,
            group,
            rows,
            g,
            with_wif=False,
        )
        for g in glist
    ]
    theta = np.array([p.att for p in parts])
    share = pgg / pgg.sum()
    psi = sum(s * p.psi for s, p in zip(share, parts, strict=True))
    # estimated-weights term over the cohort shares P(G = g) (R did 2.5: wif over glist)
    keep = np.arange(glist.size)
    wif = _wif_times_att(keep, pgg, glist, rows.unit_g, theta)
    psi = psi + (wif if rows.mult is None else wif * rows.mult)
    w = sum(s * p.weights for s, p in zip(share, parts, strict=True))
    return Aggregate("ATT (group)", float(share @ theta), psi, w, None, tuple(parts))


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def se_of(psi: np.ndarray, cluster: np.ndarray | None, n: float | None = None) -> float:
    """R ``getSE``: sqrt(mean(psi^2)/n), or CR1 over clusters (``n``: units, if not rows)."""
    n = psi.shape[0] if n is None else n
    if cluster is None:
        return float(np.sqrt(np.sum(psi**2)) / n)
    s = cluster_sums(psi, cluster)
    G = s.shape[0]
    return float(np.sqrt(G / (G - 1) * np.sum(s**2)) / n)


def multiplier_crit(
    psi: np.ndarray,
    conf_level: float,
    rng: np.random.Generator,
    n_boot: int,
    cluster: np.ndarray | None = None,
) -> float:
    """Sup-t critical value for a uniform band over the columns of ``psi`` (R ``did::mboot``).

    Rademacher multipliers (per cluster when given); each column scaled by its bootstrap IQR
    standard deviation; the band's critical value is the ``conf_level`` quantile of max |t|.
    """
    P = psi.reshape(psi.shape[0], -1)
    if cluster is not None:
        sums = cluster_sums(P, cluster)
        counts = np.bincount(np.asarray(cluster))
        P = sums / counts[:, None]
    n = P.shape[0]
    draws = np.empty((n_boot, P.shape[1]))
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        v = rng.choice(np.array([-1.0, 1.0]), size=(stop - start, n))
        draws[start:stop] = v @ P / np.sqrt(n)
    q75, q25 = np.quantile(draws, [0.75, 0.25], axis=0, method="inverted_cdf")
    sigma = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    ok = sigma > 0
    if not ok.any():
        return float(stats.norm.ppf(0.5 + conf_level / 2))
    tmax = np.max(np.abs(draws[:, ok] / sigma[ok]), axis=1)
    crit = float(np.quantile(tmax, conf_level, method="inverted_cdf"))
    return max(crit, float(stats.norm.ppf(0.5 + conf_level / 2)))


def pretest(
    att: np.ndarray, inf: np.ndarray, cluster: np.ndarray | None, n: float | None = None
) -> tuple[float, float, int]:
    """Joint Wald test that every pre-treatment ATT(g,t) is zero: (W, p-value, df)."""
    n = inf.shape[0] if n is None else n
    if cluster is None:
        V = inf.T @ inf / n**2
    else:
        S = cluster_sums(inf, cluster)
        G = S.shape[0]
        V = G / (G - 1) * (S.T @ S) / n**2
    rank = int(np.linalg.matrix_rank(V))
    W = float(att @ np.linalg.pinv(V) @ att)
    return W, float(stats.chi2.sf(W, rank)), rank
