"""Nearest-neighbour search for matching: 1-D on a score, or Euclidean on whitened covariates.

Returns, for every query unit, up to ``k`` reference units as (query, reference, weight) triples.
Ties are broken deterministically: references are ordered by (distance, score, row position).
"""

from __future__ import annotations

import numpy as np

from truelift.errors import DesignError

__all__ = ["greedy", "knn"]


def _knn_1d(q: np.ndarray, ref: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(ref, kind="stable")
    srt = ref[order]
    pos = np.searchsorted(srt, q)
    cand = pos[:, None] + np.arange(-k, k)[None, :]
    valid = (cand >= 0) & (cand < srt.size)
    cc = np.clip(cand, 0, srt.size - 1)
    d = np.where(valid, np.abs(srt[cc] - q[:, None]), np.inf)
    pick = np.argsort(d, axis=1, kind="stable")[:, :k]
    rows = np.arange(q.size)[:, None]
    return order[cc[rows, pick]], d[rows, pick]


def _knn_nd(q: np.ndarray, ref: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="kd_tree" if ref.shape[1] <= 15 else "auto")
    dist, idx = nn.fit(ref).kneighbors(q)
    return idx, dist


def knn(q: np.ndarray, ref: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``ref`` of the ``k`` nearest references of every query row, and distances."""
    k = min(k, ref.shape[0])
    if q.ndim == 1:
        return _knn_1d(q, ref, k)
    return _knn_nd(q, ref, k)


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return root


def greedy(
    q: np.ndarray, ref: np.ndarray, k: int, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching without replacement on a 1-D score, ``k`` rounds, queries in ``order``.

    Returns (query x k) reference indices and distances, with -1 / inf where references ran out.
    """
    if q.ndim != 1:
        raise DesignError(
            "matching without replacement is available on the propensity score (on='propensity'); "
            "use replace=True with on='mahalanobis'."
        )
    srt_idx = np.argsort(ref, kind="stable")
    srt = ref[srt_idx]
    m = srt.size
    # union-find over sorted positions: nearest available at or left of p / at or right of p
    left = np.arange(m + 1)  # position p+1 stands for p; 0 is the sentinel "none on the left"
    right = np.arange(m + 1)  # position p; m is the sentinel "none on the right"
    out = np.full((q.size, k), -1, dtype=np.int64)
    dist = np.full((q.size, k), np.inf)
    pos_all = np.searchsorted(srt, q)
    for r in range(k):
        for i in order:
            p = int(pos_all[i])
            lp = _find(left, p) - 1  # nearest available position < p
            rp = _find(right, p) if p < m else m
            cands = [c for c in (lp, rp) if 0 <= c < m]
            if not cands:
                continue
            best = min(cands, key=lambda c: (abs(srt[c] - q[i]), c))
            out[i, r], dist[i, r] = srt_idx[best], abs(srt[best] - q[i])
            left[best + 1] = best  # remove: point left-finder past it
            right[best] = best + 1
    return out, dist
