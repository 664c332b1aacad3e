"""Meta-learners for the conditional average treatment effect (CATE), with cross-fitting.

S-, T- and X-learner (Künzel, Sekhon, Bickel & Yu 2019, PNAS), DR-learner (Kennedy 2023,
"Towards optimal doubly robust estimation of heterogeneous causal effects") and R-learner
(Nie & Wager 2021, Biometrika). Any scikit-learn regressor is accepted as the base learner
(default :class:`~sklearn.ensemble.HistGradientBoostingRegressor`), any classifier with
``predict_proba`` as the propensity model (default logistic regression) unless the propensity is
known (a randomized holdout).

Cross-fitting (Chernozhukov et al. 2018): the rows are split into ``n_folds`` folds stratified by
arm; every nuisance (outcome models mu0, mu1 and propensity e) and every second-stage model is fit
on the other folds and predicted on the held-out fold, so each row gets an *out-of-fold* CATE that
no model trained on it produced. Predictions on new rows average the fold models.

X-learner weighting follows Künzel et al. (2019, eq. 9 with g = e): tau(x) = e(x) tau0(x) +
(1 - e(x)) tau1(x), where tau0 is fit on the controls' imputed effects mu1(x) - y and tau1 on the
treated users' y - mu0(x): the control-fitted model is weighted by the propensity.

These learners need rows in memory (gradient boosting): given a lazy table, :func:`fit_uplift`
collects the needed columns and records it (:mod:`truelift.uplift._rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, clone
from threadpoolctl import threadpool_limits

from truelift import _frame
from truelift.errors import DataError, DesignError
from truelift.uplift._cells import RowSpace
from truelift.uplift._rows import gather

__all__ = ["LEARNERS", "MetaLearner", "Nuisance", "fit_uplift"]

Learner = Literal["s", "t", "x", "dr", "r"]
LEARNERS: tuple[str, ...] = ("s", "t", "x", "dr", "r")
Rng = int | np.random.Generator | None


def check_option(name: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raise DesignError naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise DesignError(f"{name} must be one of {shown}; got {value!r}.")


def as_rng(rng: Rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def default_model(seed: int | None = None) -> Any:
    """The default base learner: histogram gradient boosting (fast, handles non-linearity)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, random_state=seed)


def default_propensity_model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000)


def _seeded(est: Any, seed: int) -> Any:
    """A fresh clone of ``est`` with ``random_state`` set (when it has one)."""
    new = clone(est)
    if "random_state" in new.get_params():
        new.set_params(random_state=seed)
    return new


def make_folds(t: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold label per row, stratified by arm (each fold holds treated and control rows)."""
    n_min = int(min(t.sum(), t.size - t.sum()))
    if n_folds < 2:
        raise DesignError(f"n_folds must be at least 2 for cross-fitting; got {n_folds}.")
    if n_min < 2 * n_folds:
        raise DataError(
            f"the smaller arm has only {n_min} rows; cross-fitting with {n_folds} folds needs at "
            f"least {2 * n_folds}. Use fewer folds or more data."
        )
    folds = np.empty(t.size, dtype=np.int64)
    for arm in (0.0, 1.0):
        idx = np.flatnonzero(t == arm)
        folds[rng.permutation(idx)] = np.arange(idx.size) % n_folds
    return folds


class Nuisance:
    """Out-of-fold nuisance predictions: outcome means mu0, mu1 and propensity e per row."""

    def __init__(self, mu0: np.ndarray, mu1: np.ndarray, e: np.ndarray) -> None:
        self.mu0, self.mu1, self.e = mu0, mu1, e

    def aipw_scores(self, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Doubly robust scores (Gamma1, Gamma0) of E[Y(1)|X], E[Y(0)|X] (Robins et al. 1994)."""
        g1 = self.mu1 + t * (y - self.mu1) / self.e
        g0 = self.mu0 + (1 - t) * (y - self.mu0) / (1 - self.e)
        return g1, g0


class MetaLearner(BaseEstimator):
    """Cross-fitted S/T/X/DR/R meta-learner following the scikit-learn estimator contract.

    Args:
        learner: ``"s"``, ``"t"``, ``"x"``, ``"dr"`` or ``"r"``.
        model: any scikit-learn regressor for outcome and effect models (cloned per fit).
        propensity_model: a classifier with ``predict_proba`` (used when no known propensity).
        propensity: a known, constant treatment probability (randomized data), or ``None``.
        n_folds: number of cross-fitting folds.
        clip: propensities are clipped to ``[clip, 1 - clip]``.
        random_state: seed for the folds and the base learners.
        n_threads: OpenMP/BLAS threads the base learners may use while fitting (1 by default:
            cross-fitting fits many small models, where threads mostly contend; ``None`` leaves
            the libraries' own default).
        max_bins: ``None`` fits every model on the rows. An integer cuts each covariate with
            more distinct values into that many quantile bins and fits every model on one row
            per cell of binned covariates with the summed weight as ``sample_weight``: the
            same fit as on the binned rows for weighted least squares (the learner must accept
            ``sample_weight``), far faster when cells are fewer than rows
            (:mod:`truelift.uplift._cells`).

    After :meth:`fit`: ``cate_`` (out-of-fold CATE per training row), ``nuisance_``
    (:class:`Nuisance`, out-of-fold), ``folds_``.
    """

    def __init__(
        self,
        learner: Learner = "x",
        model: Any = None,
        propensity_model: Any = None,
        propensity: float | None = None,
        n_folds: int = 5,
        clip: float = 0.01,
        random_state: int | None = None,
        n_threads: int | None = 1,
        max_bins: int | None = None,
    ) -> None:
        self.learner = learner
        self.model = model
        self.propensity_model = propensity_model
        self.propensity = propensity
        self.n_folds = n_folds
        self.clip = clip
        self.random_state = random_state
        self.n_threads = n_threads
        self.max_bins = max_bins

    # ---- fitting -------------------------------------------------------------------------------
    def fit(
        self, X: np.ndarray, treatment: np.ndarray, y: np.ndarray, propensity: Any = None
    ) -> MetaLearner:
        """Fit on covariates ``X``, binary ``treatment`` and outcome ``y``.

        ``propensity`` (fit parameter) may give known per-row treatment probabilities.
        """
        check_option("learner", self.learner, LEARNERS)
        with threadpool_limits(self.n_threads):
            return self._fit(X, treatment, y, propensity)

    def _fit(self, X: Any, treatment: Any, y: Any, propensity: Any) -> MetaLearner:
        X = np.asarray(X, dtype=float)
        t = np.asarray(treatment, dtype=float)
        y = np.asarray(y, dtype=float)
        rng = np.random.default_rng(self.random_state)
        self._seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=4 * self.n_folds + 4)]
        self.folds_ = make_folds(t, self.n_folds, rng)
        self._base = self.model if self.model is not None else default_model()
        self._space = RowSpace(X, self.max_bins)
        e = self._fit_propensity(X, t, propensity)
        if self.learner == "s":
            mu0, mu1 = self._fit_s(X, t, y)
        else:
            mu0, mu1 = self._fit_outcomes(X, t, y)
        self.nuisance_ = Nuisance(mu0, mu1, e)
        self.cate_ = self._second_stage(X, t, y)
        self.n_features_in_ = X.shape[1]
        return self

    def _fit_propensity(self, X: np.ndarray, t: np.ndarray, known: Any) -> np.ndarray:
        self._e_models: list[Any] = []
        self._known_e: np.ndarray | None = None
        lo, hi = self.clip, 1 - self.clip
        if known is not None:
            self._known_e = np.clip(np.broadcast_to(np.asarray(known, float), t.shape), lo, hi)
            return self._known_e.copy()
        if self.propensity is not None:
            if not 0 < self.propensity < 1:
                raise DesignError(f"propensity must lie in (0, 1); got {self.propensity}.")
            self._known_e = np.full(t.shape, float(self.propensity))
            return self._known_e.copy()
        e = np.empty(t.size)
        base = self.propensity_model or default_propensity_model()
        for k in range(self.n_folds):
            test = self.folds_ == k
            m = self._space.fit_classifier(_seeded(base, self._seeds[k]), ~test, t)
            self._e_models.append(m)
            e[test] = self._space.predict_proba(m, test)
        return np.clip(e, lo, hi)

    def _fit_outcomes(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        mu0, mu1 = np.empty(t.size), np.empty(t.size)
        self._mu_models: list[tuple[Any, Any]] = []
        for k in range(self.n_folds):
            test = self.folds_ == k
            tr0, tr1 = ~test & (t == 0), ~test & (t == 1)
            sp = self._space
            m0 = sp.fit(_seeded(self._base, self._seeds[self.n_folds + k]), tr0, y[tr0])
            m1 = sp.fit(_seeded(self._base, self._seeds[2 * self.n_folds + k]), tr1, y[tr1])
            self._mu_models.append((m0, m1))
            mu0[test], mu1[test] = sp.predict(m0, test), sp.predict(m1, test)
        return mu0, mu1

    def _fit_s(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        mu0, mu1 = np.empty(t.size), np.empty(t.size)
        self._s_models: list[Any] = []
        for k in range(self.n_folds):
            test = self.folds_ == k
            m = _seeded(self._base, self._seeds[self.n_folds + k])
            self._space.fit(m, ~test, y[~test], t=t)
            self._s_models.append(m)
            mu0[test] = self._space.predict(m, test, t_value=0.0)
            mu1[test] = self._space.predict(m, test, t_value=1.0)
        return mu0, mu1

    @staticmethod
    def _s_predict(m: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ones, zeros = np.ones(len(X)), np.zeros(len(X))
        return m.predict(np.column_stack([X, zeros])), m.predict(np.column_stack([X, ones]))

    def _second_stage(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Out-of-fold CATE: fold k's effect model never sees fold k's outcomes, not even
        through its nuisances (so the CATE proxy is independent of each row's own noise)."""
        nu = self.nuisance_
        if self.learner in ("s", "t"):
            return nu.mu1 - nu.mu0
        self._tau_models: list[Any] = []
        cate = np.empty(t.size)
        sp = self._space
        for k in range(self.n_folds):
            test = self.folds_ == k
            seed = self._seeds[3 * self.n_folds + k]
            if self.learner == "x":
                m0, m1 = self._mu_models[k]
                tr0, tr1 = ~test & (t == 0), ~test & (t == 1)
                # imputed effects (Künzel et al. eq. 4): each arm's rows against the other arm's model
                d0 = sp.predict(m1, tr0) - y[tr0]
                d1 = y[tr1] - sp.predict(m0, tr1)
                tau0 = sp.fit(_seeded(self._base, seed), tr0, d0)
                tau1 = sp.fit(_seeded(self._base, seed + 1), tr1, d1)
                self._tau_models.append((tau0, tau1))
                e = nu.e[test]  # Künzel et al. eq. 9 with g = e: tau0 weighted by the propensity
                cate[test] = e * sp.predict(tau0, test) + (1 - e) * sp.predict(tau1, test)
                continue
            train = ~test
            d, w = self._pseudo_outcomes(train, t, y, seed)
            model = _seeded(self._base, seed)
            sp.fit(model, train, d, None if self.learner == "dr" else w)
            self._tau_models.append(model)
            cate[test] = sp.predict(model, test)
        return cate

    def _pseudo_outcomes(
        self, train: np.ndarray, t_all: np.ndarray, y_all: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """DR or R pseudo-outcomes on the rows in ``train`` (a mask), with nuisances cross-fitted
        in 2 halves of those rows."""
        sp, idx = self._space, np.flatnonzero(train)
        t, y = t_all[idx], y_all[idx]
        half = make_folds(t, 2, np.random.default_rng(seed))
        mu0, mu1, e = np.empty(t.size), np.empty(t.size), np.empty(t.size)
        for h in (0, 1):
            fit, out = np.zeros(t_all.size, bool), np.zeros(t_all.size, bool)
            fit[idx[half != h]], out[idx[half == h]] = True, True
            f0, f1 = fit & (t_all == 0), fit & (t_all == 1)
            m0 = sp.fit(_seeded(self._base, seed + 2 + h), f0, y_all[f0])
            m1 = sp.fit(_seeded(self._base, seed + 4 + h), f1, y_all[f1])
            mu0[half == h], mu1[half == h] = sp.predict(m0, out), sp.predict(m1, out)
            if self._known_e is None:
                base = self.propensity_model or default_propensity_model()
                m = sp.fit_classifier(_seeded(base, seed + h), fit, t_all)
                e[half == h] = sp.predict_proba(m, out)
        e_known = None if self._known_e is None else self._known_e[idx]
        e = np.clip(e if e_known is None else e_known, self.clip, 1 - self.clip)
        if self.learner == "dr":
            g1, g0 = Nuisance(mu0, mu1, e).aipw_scores(t, y)
            return g1 - g0, np.ones(t.size)
        m = e * mu1 + (1 - e) * mu0  # r-learner: (y - m)/(t - e) with weights (t - e)^2
        return (y - m) / (t - e), (t - e) ** 2

    # ---- prediction ----------------------------------------------------------------------------
    def predict(self, X: np.ndarray, propensity: Any = None) -> np.ndarray:
        """CATE for new rows: the average of the fold models' predictions."""
        if not hasattr(self, "cate_"):
            raise DesignError("this MetaLearner is not fitted yet; call fit(X, treatment, y).")
        X, index = self._space.transform(np.asarray(X, dtype=float))
        if index is not None and propensity is not None and np.ndim(propensity) > 0:
            raise DesignError(
                "per-row propensities for new rows are not supported with max_bins=; pass one "
                "probability or fit with max_bins=None."
            )
        with threadpool_limits(self.n_threads):
            pred = self._predict(X, propensity)
        return pred if index is None else pred[index]

    def _predict(self, X: np.ndarray, propensity: Any) -> np.ndarray:
        if self.learner == "s":
            preds = [np.subtract(*self._s_predict(m, X)[::-1]) for m in self._s_models]
        elif self.learner == "t":
            preds = [m1.predict(X) - m0.predict(X) for m0, m1 in self._mu_models]
        elif self.learner == "x":
            e = self._predict_e(X, propensity)
            preds = [e * a.predict(X) + (1 - e) * b.predict(X) for a, b in self._tau_models]
        else:
            preds = [m.predict(X) for m in self._tau_models]
        return np.asarray(np.mean(preds, axis=0))

    def _predict_e(self, X: np.ndarray, known: Any) -> np.ndarray:
        lo, hi = self.clip, 1 - self.clip
        if known is not None:
            return np.clip(np.broadcast_to(np.asarray(known, float), (len(X),)), lo, hi)
        if self._e_models:
            e = np.mean([m.predict_proba(X)[:, 1] for m in self._e_models], axis=0)
            return np.clip(e, lo, hi)
        e_fit = self.nuisance_.e
        if np.ptp(e_fit) == 0:
            return np.full(len(X), e_fit[0])
        raise DesignError(
            "the X-learner needs propensities for new rows: pass propensity= to predict(), "
            "or fit without per-row known propensities so a propensity model is learned."
        )


def cross_fit_propensity(
    X: np.ndarray,
    t: np.ndarray,
    *,
    seed: int,
    n_folds: int = 5,
    model: Any = None,
    clip: float = 0.01,
) -> np.ndarray:
    """Out-of-fold propensities from ``model`` (default logistic regression), clipped."""
    rng = np.random.default_rng(seed)
    folds = make_folds(t, n_folds, rng)
    e = np.empty(t.size)
    base = model or default_propensity_model()
    with threadpool_limits(1):
        for k in range(n_folds):
            test = folds == k
            m = _seeded(base, seed + k).fit(X[~test], t[~test])
            e[test] = m.predict_proba(X[test])[:, 1]
    return np.clip(e, clip, 1 - clip)


def propensity_role(propensity: float | str | None) -> dict[str, str]:
    """The ``numeric=`` role to load a known-propensity column with (empty otherwise)."""
    return {"propensity": propensity} if isinstance(propensity, str) else {}


def known_propensity(cols: _frame.Columns, propensity: float | str | None) -> Any:
    """A known propensity as a float, a per-row array (from its column), or ``None``."""
    if propensity is None:
        return None
    if isinstance(propensity, str):
        e = cols["propensity"]
    elif isinstance(propensity, (int, float)) and not isinstance(propensity, bool):
        e = np.asarray(float(propensity))
    else:
        raise DesignError(
            f"propensity must be None, a probability or a column name; got {propensity!r}."
        )
    if np.any((e <= 0) | (e >= 1)):
        raise DataError(
            "known propensities must lie strictly between 0 and 1 (every user must have had a "
            "chance of each arm); found values outside (0, 1)."
        )
    return float(e) if e.ndim == 0 else e


def fit_uplift(
    data: Any,
    *,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    learner: Learner = "x",
    model: Any = None,
    propensity_model: Any = None,
    propensity: float | None = None,
    n_folds: int = 5,
    rng: Rng = None,
    missing: _frame.MissingPolicy = "raise",
    sample: float | int | None = None,
    max_bins: int | None = None,
) -> MetaLearner:
    """Fit a cross-fitted meta-learner of the CATE of ``treatment`` on ``outcome``.

    Returns a fitted :class:`MetaLearner` (scikit-learn contract): ``.cate_`` holds the
    out-of-fold CATE per row, ``.predict(X)`` scores new rows (X encoded as ``.feature_names_``).
    Effects, tests and evaluations are separate functions returning truelift results
    (:func:`truelift.uplift.heterogeneity_test`, :func:`~truelift.uplift.evaluate_uplift`,
    :func:`~truelift.uplift.policy_value`).

    ``data`` may be a lazy table (DuckDB relation, polars LazyFrame, PySpark DataFrame): the
    needed columns are selected in the engine and their rows collected, and ``.collected_``
    records the engine, row count and columns. ``sample`` (a fraction in (0, 1) or a row count,
    drawn with ``rng``) is the only way rows are left out; ``None`` uses them all.
    ``max_bins`` fits every model on cells of binned covariates (see :class:`MetaLearner`).
    """
    check_option("learner", learner, LEARNERS)
    gen = as_rng(rng)
    data, record = gather(data, [treatment, outcome, *covariates], sample=sample, rng=gen)
    cols = _frame.load(
        data,
        binary={"treatment": treatment},
        numeric={"outcome": outcome},
        covariates=list(covariates),
        missing=missing,
    )
    seed = int(gen.integers(0, 2**31 - 1))
    est = MetaLearner(
        learner=learner,
        model=model,
        propensity_model=propensity_model,
        propensity=propensity,
        n_folds=n_folds,
        random_state=seed,
        max_bins=max_bins,
    )
    est.fit(cols.X, cols["treatment"], cols["outcome"])
    est.feature_names_ = cols.X_names
    est.collected_ = record
    return est
