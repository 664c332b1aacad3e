"""A/B readout speed: truelift.experiment.ab_test against tea-tasting (mean and CUPED).

Same pandas frame for both (variant 0/1, outcome, pre-period covariate), 1M and 10M rows by
default; each call is timed end to end (frame in, result out), best of ``repeat`` runs. Ratios are
truelift time / peer time (below 1 means truelift is faster). tea-tasting is imported inside and
skipped if it is not installed (``pip install tea-tasting``).

    python -m benchmarks.bench_experiment            # 1M and 10M rows
    python -m benchmarks.bench_experiment 200000     # custom sizes
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from truelift.experiment import ab_test


def _data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, size=n)
    v = rng.integers(0, 2, size=n)
    y = 0.8 * x + 0.05 * v + rng.normal(0, 2, size=n)
    return pd.DataFrame({"variant": v, "y": y, "x": x})


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _peers(df: pd.DataFrame) -> dict[str, Callable[[], Any]]:
    try:
        import tea_tasting as tt
    except ImportError:
        print("  tea-tasting not installed: skipped")
        return {}
    mean = tt.Experiment(mean=tt.Mean("y"))
    cuped = tt.Experiment(cuped=tt.Mean("y", "x"))
    return {"mean": lambda: mean.analyze(df), "cuped": lambda: cuped.analyze(df)}


def run(sizes: tuple[int, ...] = (1_000_000, 10_000_000), repeat: int = 3) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        df = _data(n)
        ours = {
            "mean": lambda df=df: ab_test(df, outcome="y", variant="variant"),
            "cuped": lambda df=df: ab_test(
                df, outcome="y", variant="variant", covariates=["x"], adjustment="cuped"
            ),
            "lin": lambda df=df: ab_test(df, outcome="y", variant="variant", covariates=["x"]),
        }
        peers = _peers(df)
        for task, fn in ours.items():
            t_ours = _best(fn, repeat)
            t_peer = _best(peers[task], repeat) if task in peers else float("nan")
            rows.append(
                {
                    "n": n,
                    "task": task,
                    "truelift_s": t_ours,
                    "tea_tasting_s": t_peer,
                    "ratio": t_ours / t_peer,
                }
            )
            print(
                f"  n={n:>11,}  {task:5s}  truelift {t_ours:8.3f}s  tea-tasting "
                f"{t_peer:8.3f}s  ratio {t_ours / t_peer:6.2f}"
            )
        del df
    return rows


def main() -> None:
    sizes = tuple(int(a) for a in sys.argv[1:] if a.isdigit()) or (1_000_000, 10_000_000)
    run(sizes)


if __name__ == "__main__":
    main()
