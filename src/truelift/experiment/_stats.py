"""The sufficient statistics an A/B readout needs, however they were computed.

:class:`SufficientStats` is the one input of the A/B kernel (:mod:`truelift.experiment._moments`):
per-arm cross-products of ``w = [1, metric components, covariates]`` over the randomized units
(rows, or clusters), their counts, and the heavy-tail statistics. The in-memory path fills it from
numpy arrays; the engine path (:mod:`truelift.experiment._engine`) from a ``GROUP BY`` in DuckDB,
polars or Spark. For cluster-randomized tests both paths reduce rows to per-cluster sums first and
then share :func:`cluster_stats` (Donner & Klar 2000: the analysis unit is the cluster).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from truelift.errors import DataError
from truelift.experiment import _moments as mo
from truelift.experiment._tails import TailStats

__all__ = ["Metric", "SufficientStats", "cluster_stats", "mixed_clusters_error", "row_comps"]


@dataclass(frozen=True)
class Metric:
    label: str
    kind: Literal["mean", "ratio"]
    columns: tuple[str, ...]  # roles (keys of the role -> column mapping)


@dataclass(frozen=True)
class SufficientStats:
    """Everything the kernel needs; arms in ``levels`` order (sorted variant values)."""

    mom: mo.ArmMoments
    comps: list[list[int]]  # per metric: its component indices in ``mom``
    n_units: np.ndarray  # randomized units per arm (rows or clusters)
    n_rows: np.ndarray  # rows per arm
    levels: np.ndarray  # variant values
    X_names: tuple[str, ...]
    n_dropped: int
    tails: tuple[TailStats | None, ...]  # per metric (None: 0/1, light-tailed or clustered)
    engine: str = "in-memory"
    transferred: str = "nothing (rows analysed in memory)"

    def reordered(self, order: list[int]) -> SufficientStats:
        """The same statistics with the arms in ``order`` (control first)."""
        return replace(
            self,
            mom=mo.ArmMoments(self.mom.cross[order], self.mom.m, self.mom.k, self.mom.shift),
            n_units=self.n_units[order],
            n_rows=self.n_rows[order],
            levels=self.levels[order],
            tails=tuple(None if t is None else t.reordered(order) for t in self.tails),
        )


def row_comps(metrics: list[Metric]) -> list[list[int]]:
    """Component indices of each metric when every metric column is a component."""
    comps, pos = [], 0
    for m in metrics:
        comps.append(list(range(pos, pos + len(m.columns))))
        pos += len(m.columns)
    return comps


def mixed_clusters_error(n_mixed: int) -> DataError:
    return DataError(
        f"{n_mixed} cluster(s) contain more than one variant; a cluster-randomized test needs "
        "every unit of a cluster in the same arm. Check the cluster column, or analyse without "
        "cluster=."
    )


def cluster_stats(
    arm_g: np.ndarray,
    size: np.ndarray,
    S: np.ndarray,
    Xg: np.ndarray,
    metrics: list[Metric],
    n_levels: int,
) -> tuple[mo.ArmMoments, list[list[int]], np.ndarray, np.ndarray]:
    """Cluster-level moments from per-cluster sums.

    ``arm_g`` is each cluster's arm (level index), ``size`` its row count, ``S[:, i]`` the sum of
    row component ``i`` over it and ``Xg`` the sums of the covariates. Each metric becomes a ratio
    of cluster totals (metric total / cluster size, or numerator / denominator total), so the
    variance is the cluster-level delta method. Returns the moments, the component indices per
    metric, clusters per arm and rows per arm.
    """
    blocks: list[np.ndarray] = []
    for m, rc in zip(metrics, row_comps(metrics), strict=True):
        blocks.append(S[:, rc[0]])
        blocks.append(size if m.kind == "mean" else S[:, rc[1]])
    C = np.column_stack(blocks)
    mom = mo.arm_moments(arm_g, n_levels, C, Xg)
    comps = [[2 * i, 2 * i + 1] for i in range(len(metrics))]
    n_units = np.bincount(arm_g, minlength=n_levels)
    n_rows = np.bincount(arm_g, weights=size, minlength=n_levels)
    return mom, comps, n_units, n_rows
