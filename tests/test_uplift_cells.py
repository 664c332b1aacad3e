"""Fitting the meta-learners on cells of binned covariates (``max_bins=``), and any estimator.

Source of the exact equalities: algebra. A weighted least-squares fit on one row per cell (target
the cell's weighted mean, weight its summed weight) minimises the same criterion as the fit on the
cell's rows, up to a constant; so the cells path equals the rows path on the binned covariates.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import truelift
from truelift.uplift import LEARNERS, MetaLearner, fit_uplift
from truelift.uplift._cells import RowSpace

COVS = ["engagement_tier", "query_confidence", "tenure_weeks"]


@pytest.fixture(scope="module")
def data():
    d = truelift.simulate("hetero", n_users=4000, seed=2).data
    cols = truelift._frame.load(
        d, binary={"t": "agent_mode"}, numeric={"y": "task_completed"}, covariates=COVS
    )
    return d, cols


def _binned(X: np.ndarray, bins: int) -> np.ndarray:
    uniq, index = RowSpace(X, bins).transform(X)
    return uniq[index]


@pytest.mark.parametrize("learner", LEARNERS)
@pytest.mark.parametrize("propensity", [0.5, None])
def test_cells_equal_rows_for_least_squares(data, learner, propensity):
    # LinearRegression: weighted least squares on cells = OLS on rows (algebra; 1e-9 absolute
    # covers floating-point summation order). With propensity=None the logistic propensity is
    # fit on (cell, arm) rows with counts as weights (same likelihood; lbfgs tolerance).
    _, cols = data
    kw = dict(model=LinearRegression(), propensity=propensity, n_folds=2, random_state=1)
    cells = MetaLearner(learner, max_bins=16, **kw).fit(cols.X, cols["t"], cols["y"])
    rows = MetaLearner(learner, **kw).fit(_binned(cols.X, 16), cols["t"], cols["y"])
    np.testing.assert_allclose(cells.cate_, rows.cate_, atol=1e-9)
    new = cols.X[:200]
    uniq, index = cells._space.transform(new)  # new rows binned with the fitted cut points
    np.testing.assert_allclose(cells.predict(new), rows.predict(uniq[index]), atol=1e-9)
    assert cells._space.n_cells < len(cols.X) / 4  # the point: far fewer cells than rows


@pytest.mark.parametrize("learner", ["s", "t", "x"])
def test_cells_equal_rows_for_gradient_boosting(data, learner):
    # Histogram gradient boosting sees the same gradient and hessian sums per bin either way;
    # early stopping and min_samples_leaf count samples, so they are switched off. The sums are
    # float32, so after enough trees a near-tied split can flip (measured at n = 4,000: equal to
    # 5e-9 over 5 trees; after 15 trees one fold differs, correlation 0.994-0.997).
    _, cols = data

    def fit(n_trees: int, bins: int | None, X: np.ndarray) -> np.ndarray:
        gbm = HistGradientBoostingRegressor(
            max_iter=n_trees, early_stopping=False, min_samples_leaf=1, random_state=0
        )
        ml = MetaLearner(learner, gbm, propensity=0.5, n_folds=2, random_state=1, max_bins=bins)
        return ml.fit(X, cols["t"], cols["y"]).cate_

    Xb = _binned(cols.X, 16)
    np.testing.assert_allclose(fit(5, 16, cols.X), fit(5, None, Xb), atol=1e-7)
    assert np.corrcoef(fit(15, 16, cols.X), fit(15, None, Xb))[0, 1] > 0.99


def test_binning_keeps_columns_with_few_values_exactly(data):
    _, cols = data
    space = RowSpace(cols.X, 255)
    tenure = cols.X[:, cols.X_names.index("tenure_weeks")]
    # tenure has 104 distinct values <= 255: kept as they are
    np.testing.assert_array_equal(space.reps[cols.X_names.index("tenure_weeks")], np.unique(tenure))
    uniq, index = space.transform(cols.X)
    np.testing.assert_array_equal(uniq[index][:, cols.X_names.index("tenure_weeks")], tenure)
    conf = space.reps[cols.X_names.index("query_confidence")]
    assert conf.size == 255 and np.all(np.diff(conf) > 0)  # 255 quantile bins, ordered means


def test_max_bins_needs_sample_weights_and_a_valid_count(data):
    _, cols = data
    with pytest.raises(truelift.DesignError, match="sample_weight"):
        MetaLearner("t", KNeighborsRegressor(), propensity=0.5, n_folds=2, max_bins=8).fit(
            cols.X, cols["t"], cols["y"]
        )
    with pytest.raises(truelift.DesignError, match="max_bins"):
        MetaLearner("t", LinearRegression(), propensity=0.5, max_bins=1).fit(
            cols.X, cols["t"], cols["y"]
        )


def test_any_sklearn_regressor_and_classifier(data):
    # Any scikit-learn regressor (here a pipeline: scaling, then k-nearest neighbours, which has
    # no random_state) and any classifier with predict_proba (Gaussian naive Bayes) as the
    # propensity model. Source of
    # the floor: the simulator's true CATE; 0.2 rules out a learner that ignores the features.
    d, _ = data
    m = fit_uplift(
        d,
        treatment="agent_mode",
        outcome="task_completed",
        covariates=COVS,
        learner="x",
        model=make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=200)),
        propensity_model=GaussianNB(),
        n_folds=2,
        rng=0,
    )
    assert np.corrcoef(m.cate_, d["true_cate"])[0, 1] > 0.2
    assert 0.3 < m.nuisance_.e.mean() < 0.7  # randomized at 0.5: the estimated e is near it
