"""Benchmark: truelift.rdd against rdrobust (sharp RD, default MSE-optimal bandwidth).

Run: ``python -m benchmarks.bench_rdd [--sizes 1000000 10000000] [--vce nn hc1] [--repeat 3]
[--with-diagnostics]`` in an
environment with rdrobust installed (``pip install rdrobust``); without it only truelift is
timed. Both are warmed up first on 20,000 rows (imports; numba compiling or loading from its
cache rdrobust's nearest-neighbour loop and truelift's row loops). Prints wall and CPU seconds (``time.process_time``: the machine may be
shared), the speed ratios, the largest absolute difference in the estimate, robust SE and
bandwidth (they must agree to ~1e-9) and whether the effective sample sizes are equal.
truelift is timed with ``diagnostics=False`` (the estimator rdrobust computes);
``--with-diagnostics`` also times the default call with its diagnostics.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def _data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    y = 1 + 0.8 * x - 0.5 * x**2 + 0.3 * (x >= 0) + rng.normal(0, 0.5, n)
    return pd.DataFrame({"x": x, "y": y})


Timed = tuple[float, float, tuple[float, ...]]  # wall s, CPU s, (estimate, robust SE, h, N_h)


def _truelift(df: pd.DataFrame, vce: str, diagnostics: bool = False) -> Timed:
    from truelift.rdd import rdd

    t0, c0 = time.perf_counter(), time.process_time()
    e = rdd(df, outcome="y", running="x", cutoff=0.0, vce=vce, diagnostics=diagnostics)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n_h = e.params["n_effective_left"] + e.params["n_effective_right"]
    return wall, cpu, (e.estimate, e.std_error, e.params["h_left"], n_h)


def _rdrobust(df: pd.DataFrame, vce: str) -> Timed | None:
    try:
        from rdrobust import rdrobust
    except ImportError:
        return None
    t0, c0 = time.perf_counter(), time.process_time()
    r = rdrobust(df["y"].to_numpy(), df["x"].to_numpy(), c=0.0, vce=vce)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n_h = float(r.N_h[0] + r.N_h[1])
    vals = (float(r.coef.iloc[0, 0]), float(r.se.iloc[2, 0]), float(r.bws.iloc[0, 0]), n_h)
    return wall, cpu, vals


def _best(repeat: int, run: Callable[..., Any], *args: Any) -> Any:
    """The fastest of ``repeat`` calls: (min wall, min CPU, values of the last call)."""
    runs = [run(*args) for _ in range(max(1, repeat))]
    if runs[0] is None:
        return None
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--vce", nargs="+", default=["nn", "hc1"])
    ap.add_argument(
        "--skip-peer-above", type=int, default=None, help="do not run rdrobust above this many rows"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each call this many times and keep the fastest (wall and CPU separately; "
        "the first call on new data pays page faults for fresh memory on some machines)",
    )
    ap.add_argument(
        "--with-diagnostics",
        action="store_true",
        help="also time truelift's default call (diagnostics=True: density test, placebo "
        "cutoffs, bandwidth sensitivity, donut), which rdrobust does not compute",
    )
    args = ap.parse_args(argv)
    warm = _data(20_000, seed=1)  # imports and rdrobust's numba JIT compile, not timed
    for vce in args.vce:
        _truelift(warm, vce)
        _rdrobust(warm, vce)
    rows = []
    for n in args.sizes:
        df = _data(n)
        for vce in args.vce:
            t_tl, c_tl, v_tl = _best(args.repeat, _truelift, df, vce)
            peer = None
            if args.skip_peer_above is None or n <= args.skip_peer_above:
                peer = _best(args.repeat, _rdrobust, df, vce)
            row: dict[str, Any] = {
                "n": n,
                "vce": vce,
                "truelift_s": round(t_tl, 3),
                "truelift_cpu_s": round(c_tl, 3),
            }
            if peer is not None:
                row["rdrobust_s"] = round(peer[0], 3)
                row["rdrobust_cpu_s"] = round(peer[1], 3)
                row["ratio_wall"] = round(peer[0] / t_tl, 2)
                row["ratio_cpu"] = round(peer[1] / c_tl, 2)
                row["max_abs_diff"] = float(
                    max(abs(a - b) for a, b in zip(v_tl[:3], peer[2][:3], strict=True))
                )
                row["same_n_effective"] = v_tl[3] == peer[2][3]
            if args.with_diagnostics:
                t_d, c_d, _ = _best(args.repeat, _truelift, df, vce, True)
                row["truelift_with_diagnostics_s"] = round(t_d, 3)
                row["truelift_with_diagnostics_cpu_s"] = round(c_d, 3)
                if peer is not None:
                    row["ratio_with_diagnostics_wall"] = round(peer[0] / t_d, 2)
                    row["ratio_with_diagnostics_cpu"] = round(peer[1] / c_d, 2)
            rows.append(row)
            print(row, flush=True)
    return rows


if __name__ == "__main__":
    main()
