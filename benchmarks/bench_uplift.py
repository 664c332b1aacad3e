"""X-learner at scale: truelift against causalml's BaseXRegressor with the same base learner.

Data: the ``hetero`` scenario (randomized, known propensity 0.5, real heterogeneity) with n users;
features tier (one-hot), query confidence and tenure. Both learners use the same
``HistGradientBoostingRegressor(max_iter=100, random_state=0)`` for all four models, the known
propensity 0.5, are fit on the ``train`` split and scored on the randomized ``holdout`` split,
where the Qini coefficient (scikit-uplift convention) and the correlation with the true CATE are
reported, so speed is compared at (near) equal quality.

* truelift ``MetaLearner("x", n_folds=2)``: cross-fitted (each row also gets an out-of-fold CATE
  for the heterogeneity test); base learners limited to ``n_threads=1`` by default; on the rows
  (``max_bins=None``) and on cells of binned covariates (``max_bins=64`` and ``255``; 255 is the
  number of bins histogram gradient boosting uses internally anyway): one weighted row per cell,
  the same least-squares fit as on the binned rows; the headline ratio is for ``max_bins=64``;
* causalml ``BaseXRegressor``: one fit of each model on all training rows (no cross-fitting);
  run with the libraries' default threading, limited to one thread like truelift, and with its
  default of estimating the propensity (ElasticNet with CV) instead of being given 0.5.

Run: ``python -m benchmarks.bench_uplift [n ...]`` (default 1,000,000; add ``--all`` for the slow
causalml variant that estimates the propensity). causalml is skipped if not installed
(``pip install causalml``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

COVS = ["engagement_tier", "query_confidence", "tenure_weeks"]


def _model() -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=100, random_state=0)


def make_data(n: int) -> tuple[np.ndarray, ...]:
    from truelift import _frame
    from truelift.simulate import simulate

    d = simulate("hetero", n_users=n, seed=0).data
    X = _frame.load(d, covariates=COVS).X
    tr = (d["split"] == "train").to_numpy()
    t, y, tau = (d[c].to_numpy(float) for c in ("agent_mode", "task_completed", "true_cate"))
    return X[tr], t[tr], y[tr], X[~tr], t[~tr], y[~tr], tau[~tr]


def run_truelift(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, Xh: np.ndarray, max_bins: int | None = None
) -> np.ndarray:
    from truelift.uplift import MetaLearner

    ml = MetaLearner(
        "x", model=_model(), propensity=0.5, n_folds=2, random_state=0, max_bins=max_bins
    )
    return ml.fit(X, t, y).predict(Xh)


def run_causalml(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    Xh: np.ndarray,
    threads: int | None,
    known_p: bool = True,
) -> np.ndarray:
    from causalml.inference.meta import BaseXRegressor
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        m = BaseXRegressor(learner=_model())
        if known_p:
            m.fit(X, treatment=t, y=y, p=np.full(len(t), 0.5))
            return np.asarray(m.predict(Xh, p=np.full(len(Xh), 0.5))).ravel()
        m.fit(X, treatment=t, y=y)  # causalml's default: estimate the propensity (ElasticNet, CV)
        return np.asarray(m.predict(Xh)).ravel()


def _timed(fn: Any, *args: Any) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def bench(n: int, every: bool = False) -> None:
    from truelift.uplift import qini_coefficient

    X, t, y, Xh, th, yh, tau = make_data(n)
    print(f"n = {n:,} ({len(t):,} train, {len(th):,} holdout)", flush=True)
    rows = [
        ("truelift X (cells, max_bins=64, 1 thread)", *_timed(run_truelift, X, t, y, Xh, 64)),
        ("truelift X (cells, max_bins=255, 1 thread)", *_timed(run_truelift, X, t, y, Xh, 255)),
        ("truelift X (rows, 1 thread)", *_timed(run_truelift, X, t, y, Xh)),
    ]
    try:
        import causalml  # noqa: F401
    except ImportError:
        print("  causalml not installed: skipped")
    else:
        rows.append(("causalml X (default threads)", *_timed(run_causalml, X, t, y, Xh, None)))
        rows.append(("causalml X (1 thread)", *_timed(run_causalml, X, t, y, Xh, 1)))
        if every:
            rows.append(
                ("causalml X (1 thread, p estimated)", *_timed(run_causalml, X, t, y, Xh, 1, False))
            )
    base = rows[0][1]
    for name, sec, cate in rows:
        q = qini_coefficient(yh, th, cate)
        r = float(np.corrcoef(cate, tau)[0, 1])
        print(
            f"  {name:42s} {sec:8.2f} s  qini {q:.4f}  corr(true CATE) {r:.3f}  "
            f"time / truelift cells {sec / base:5.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    sizes = [int(a) for a in args if a != "--all"] or [1_000_000]
    for n in sizes:
        bench(n, every="--all" in args)


if __name__ == "__main__":
    main()
