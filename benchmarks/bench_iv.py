"""Speed of truelift.iv against linearmodels' IV2SLS (robust HC1 covariance), one run.

``python -m benchmarks.bench_iv [n_rows]`` (default 1,000,000 rows of the ``access`` scenario).
Both fit the same model (and truelift once more on a DuckDB table, aggregated in the engine): tasks_completed on used_feature instrumented by access, with and without
the controls prior_tasks and engagement tier dummies. Timings are best of ``REPEATS`` runs; the data
are built once, outside the timings. linearmodels is optional (skipped if not installed).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from truelift.iv import iv
from truelift.simulate import simulate

REPEATS = 3


def _best(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _linearmodels(df: pd.DataFrame, controls: list[str]) -> Callable[[], Any] | None:
    try:
        from linearmodels.iv import IV2SLS
    except ImportError:
        return None
    exog = df[controls].assign(const=1.0)[["const", *controls]]
    dep, endog, instr = df["tasks_completed"], df["used_feature"], df["access"]

    def fit() -> Any:
        return IV2SLS(dep, exog, endog, instr).fit(cov_type="robust", debiased=True)

    return fit


def main(n_rows: int = 1_000_000) -> None:
    data = simulate("access", n_users=n_rows, seed=1, always_takers=True).data
    dummies = pd.get_dummies(data["engagement_tier"], drop_first=True, dtype=float)
    data = pd.concat([data, dummies], axis=1)
    cases = {"no controls": [], "3 controls": ["prior_tasks", *dummies.columns]}
    print(f"IV (2SLS, HC1), {n_rows:,} rows, best of {REPEATS}")
    for name, controls in cases.items():
        ours = _best(
            lambda c=controls: iv(
                data,
                outcome="tasks_completed",
                treatment="used_feature",
                instrument="access",
                covariates=c or None,
            )
        )
        line = f"  {name:12s} truelift {ours:7.3f} s"
        peer = _linearmodels(data, controls)
        if peer is None:
            line += "   linearmodels not installed (pip install linearmodels)"
        else:
            theirs = _best(peer)
            res = peer()
            ref = iv(
                data,
                outcome="tasks_completed",
                treatment="used_feature",
                instrument="access",
                covariates=controls or None,
            )["LATE"]
            diff = abs(ref.std_error - float(res.std_errors["used_feature"])) / ref.std_error
            line += (
                f"   linearmodels {theirs:7.3f} s   ratio truelift/linearmodels "
                f"{ours / theirs:5.2f}   (SE rel. diff {diff:.1e})"
            )
        print(line)
    _duckdb(data)


def _duckdb(data: pd.DataFrame) -> None:
    """The engine path: the same fit on a DuckDB table (30 sums aggregated in DuckDB)."""
    try:
        import duckdb
    except ImportError:
        print("  duckdb not installed")
        return
    con = duckdb.connect()
    con.register("src", data[["tasks_completed", "used_feature", "access"]])
    con.execute("CREATE TABLE access AS SELECT * FROM src")
    rel = con.table("access")
    secs = _best(
        lambda: iv(rel, outcome="tasks_completed", treatment="used_feature", instrument="access")
    )
    print(f"  no controls  truelift on a DuckDB table (aggregated in the engine) {secs:7.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
