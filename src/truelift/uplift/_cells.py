"""Where the meta-learners' models are fit: the rows, or cells of binned covariates.

A squared-error learner's fit depends on the data only through, per distinct covariate vector,
the summed weight and the weighted sum of the target: sum_i w_i (z_i - f(x))^2 over the rows of a
cell equals W_c (Z_c - f(x_c))^2 plus a constant, with W_c = sum w_i and Z_c the weighted mean.
So when the covariates are discretised (``max_bins``: a column with more distinct values is cut
at its quantiles into that many bins, each represented by the mean of its values; histogram
gradient boosting bins its inputs the same way internally), every outcome, effect and
pseudo-outcome model can be fit on one row per cell with ``sample_weight = W_c``, and a likelihood
classifier (the propensity) on one row per (cell, arm) with the counts as weights. The fit is
then the same as on the binned rows (exactly for weighted least squares and likelihood; for
tree ensembles up to count-based rules such as ``min_samples_leaf`` and an early-stopping split,
which see cells instead of rows), at a cost that grows with the number of cells, not rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import has_fit_parameter

from truelift.errors import DesignError

__all__ = ["RowSpace"]


def _bin_column(x: np.ndarray, max_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, cut points, representative value per bin) of one column."""
    uniq = np.unique(x)
    if uniq.size <= max_bins:
        edges = (uniq[1:] + uniq[:-1]) / 2
        return np.searchsorted(edges, x, side="right"), edges, uniq
    edges = np.unique(np.quantile(x, np.linspace(0, 1, max_bins + 1)[1:-1]))
    codes = np.searchsorted(edges, x, side="right")
    counts = np.bincount(codes, minlength=edges.size + 1)
    sums = np.bincount(codes, weights=x, minlength=edges.size + 1)
    fill = np.r_[edges, edges[-1]]  # an empty bin (mass points) is represented by its edge
    reps = np.where(counts > 0, sums / np.maximum(counts, 1), fill)
    return codes, edges, reps


class RowSpace:
    """Fit and predict on row subsets (boolean masks), either on rows or on cells."""

    def __init__(self, X: np.ndarray, max_bins: int | None) -> None:
        self.X, self.n = X, len(X)
        self.max_bins = max_bins
        if max_bins is None:
            return
        if not isinstance(max_bins, int) or max_bins < 2:
            raise DesignError(f"max_bins must be None or an integer >= 2; got {max_bins!r}.")
        binned = [_bin_column(X[:, j], max_bins) for j in range(X.shape[1])]
        self.edges = [b[1] for b in binned]
        self.reps = [b[2] for b in binned]
        codes = np.column_stack([b[0] for b in binned]) if binned else np.zeros((self.n, 0), int)
        sizes = [r.size for r in self.reps]
        if float(np.prod(sizes, dtype=float)) < 2.0**62:
            radix = np.cumprod([1, *sizes[:-1]]).astype(np.int64)
            _, first, self.cid = np.unique(codes @ radix, return_index=True, return_inverse=True)
        else:
            _, first, self.cid = np.unique(codes, axis=0, return_index=True, return_inverse=True)
        self.cid = self.cid.ravel()
        self.Xc = self._represent(codes[first])
        self.n_cells = len(self.Xc)

    @property
    def binned(self) -> bool:
        return self.max_bins is not None

    def _represent(self, codes: np.ndarray) -> np.ndarray:
        cols = [self.reps[j][codes[:, j]] for j in range(codes.shape[1])]
        return np.column_stack(cols) if cols else np.empty((len(codes), 0))

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """New rows as distinct binned rows and the index of each row among them.

        Unbinned: ``(X, None)``. Binned: every covariate replaced by its bin's representative,
        duplicates removed (predict on the distinct rows, then ``pred[index]``)."""
        if not self.binned:
            return X, None
        codes = np.column_stack(
            [np.searchsorted(e, X[:, j], side="right") for j, e in enumerate(self.edges)]
        )
        uniq, index = np.unique(codes, axis=0, return_inverse=True)
        return self._represent(uniq), index.ravel()

    @staticmethod
    def _needs_weights(est: Any) -> None:
        if not has_fit_parameter(est, "sample_weight"):
            raise DesignError(
                f"{type(est).__name__} does not accept sample_weight, which fitting on binned "
                "cells (max_bins=) needs; use max_bins=None or a learner with sample weights."
            )

    def fit(
        self,
        est: Any,
        mask: np.ndarray,
        z: np.ndarray,
        w: np.ndarray | None = None,
        t: np.ndarray | None = None,
    ) -> Any:
        """Fit regressor ``est`` on the rows in ``mask`` (targets ``z`` and weights ``w`` given
        for those rows); ``t`` (full length) adds the arm as a last feature (S-learner)."""
        if not self.binned:
            X = self.X[mask] if t is None else np.column_stack([self.X[mask], t[mask]])
            return est.fit(X, z) if w is None else est.fit(X, z, sample_weight=w)
        self._needs_weights(est)
        key = self.cid[mask] if t is None else 2 * self.cid[mask] + t[mask].astype(np.int64)
        ww = np.ones(key.size) if w is None else w
        size = self.n_cells * (1 if t is None else 2)
        W = np.bincount(key, weights=ww, minlength=size)
        Z = np.bincount(key, weights=ww * z, minlength=size)
        keys = np.flatnonzero(W > 0)
        feats = self._features(keys, t is not None)
        return est.fit(feats, Z[keys] / W[keys], sample_weight=W[keys])

    def _features(self, keys: np.ndarray, with_t: bool) -> np.ndarray:
        if not with_t:
            return self.Xc[keys]
        return np.column_stack([self.Xc[keys // 2], (keys % 2).astype(float)])

    def predict(self, est: Any, mask: np.ndarray, t_value: float | None = None) -> np.ndarray:
        """Predictions for the rows in ``mask`` (with the arm fixed at ``t_value`` if given)."""
        X = self.Xc if self.binned else self.X[mask]
        if t_value is not None:
            X = np.column_stack([X, np.full(len(X), float(t_value))])
        pred = np.asarray(est.predict(X), dtype=float)
        return pred[self.cid[mask]] if self.binned else pred

    def fit_classifier(self, est: Any, mask: np.ndarray, t: np.ndarray) -> Any:
        """Fit a classifier of the arm ``t`` (full length) on the rows in ``mask``."""
        if not self.binned:
            return est.fit(self.X[mask], t[mask])
        self._needs_weights(est)
        key = 2 * self.cid[mask] + t[mask].astype(np.int64)
        counts = np.bincount(key, minlength=2 * self.n_cells)
        keys = np.flatnonzero(counts)
        return est.fit(self.Xc[keys // 2], keys % 2, sample_weight=counts[keys])

    def predict_proba(self, est: Any, mask: np.ndarray) -> np.ndarray:
        """P(t = 1) for the rows in ``mask``."""
        X = self.Xc if self.binned else self.X[mask]
        p = est.predict_proba(X)[:, 1]
        return p[self.cid[mask]] if self.binned else p
