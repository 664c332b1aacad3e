"""Benchmark: truelift.rdd against rdrobust (sharp RD, default MSE-optimal bandwidth).

Run: ``python -m benchmarks.bench_rdd [--sizes 1000000 10000000] [--vce nn hc1]`` in an
environment with rdrobust installed (``pip install rdrobust``); without it only truelift is
timed. Both are warmed up first on 20,000 rows (imports; rdrobust's numba JIT compile of its
nearest-neighbour loop). Prints seconds, the speed ratio and the largest absolute difference in
the estimate, robust SE and bandwidth (they must agree to ~1e-9).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd


def _data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    y = 1 + 0.8 * x - 0.5 * x**2 + 0.3 * (x >= 0) + rng.normal(0, 0.5, n)
    return pd.DataFrame({"x": x, "y": y})


def _truelift(df: pd.DataFrame, vce: str) -> tuple[float, tuple[float, float, float]]:
    from truelift.rdd import rdd

    t0 = time.perf_counter()
    e = rdd(df, outcome="y", running="x", cutoff=0.0, vce=vce, diagnostics=False)  # type: ignore[arg-type]
    return time.perf_counter() - t0, (e.estimate, e.std_error, e.params["h_left"])


def _rdrobust(df: pd.DataFrame, vce: str) -> tuple[float, tuple[float, float, float]] | None:
    try:
        from rdrobust import rdrobust
    except ImportError:
        return None
    t0 = time.perf_counter()
    r = rdrobust(df["y"].to_numpy(), df["x"].to_numpy(), c=0.0, vce=vce)
    el = time.perf_counter() - t0
    return el, (float(r.coef.iloc[0, 0]), float(r.se.iloc[2, 0]), float(r.bws.iloc[0, 0]))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--vce", nargs="+", default=["nn", "hc1"])
    ap.add_argument(
        "--skip-peer-above", type=int, default=None, help="do not run rdrobust above this many rows"
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
            t_tl, v_tl = _truelift(df, vce)
            peer = None
            if args.skip_peer_above is None or n <= args.skip_peer_above:
                peer = _rdrobust(df, vce)
            row: dict[str, Any] = {"n": n, "vce": vce, "truelift_s": round(t_tl, 3)}
            if peer is not None:
                row["rdrobust_s"] = round(peer[0], 3)
                row["ratio"] = round(peer[0] / t_tl, 2)
                row["max_abs_diff"] = float(
                    max(abs(a - b) for a, b in zip(v_tl, peer[1], strict=True))
                )
            rows.append(row)
            print(row, flush=True)
    return rows


if __name__ == "__main__":
    main()
