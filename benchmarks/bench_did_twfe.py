"""Benchmark: truelift.did.twfe against pyfixest and linearmodels (TWFE, unit-clustered SE).

Run: ``python -m benchmarks.bench_did_twfe [--sizes 1000000 10000000] [--periods 10]
[--layouts sorted shuffled unbalanced]`` in an environment with the peers (``pip install pyfixest
linearmodels``); a missing peer is skipped. The panel has staggered adoption; ``--layouts``
chooses the row layouts: ``sorted`` (balanced, rows by unit then period: the closed form),
``shuffled`` (the same rows in random order: scattered into order, then the closed form) and
``unbalanced`` (10 % of the rows dropped at random, shuffled: the general path). truelift runs with
``fe_dof="nested"`` so its SE uses pyfixest's default small-sample convention (county-style
fixed effects nested in the clusters are not counted); linearmodels uses its own convention, so
its SE differs slightly by design. ``--exact`` adds a long-double fit of the balanced layouts
as the arbiter of the last digits. Prints seconds, speed ratios (peer / truelift) and the largest
absolute differences in coefficient and SE. Wall-clock and CPU seconds are both printed: on a
shared machine the CPU-time ratio is the steadier figure.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd


def _data(n: int, periods: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units = n // periods
    cohort = rng.choice(np.array([0, 4, 6, 8]), size=units)
    t = np.tile(np.arange(1, periods + 1), units)
    g = np.repeat(cohort, periods)
    d = ((g > 0) & (t >= g)).astype(np.int64)
    y = (
        np.repeat(rng.normal(size=units), periods)
        + 0.1 * t
        + 0.5 * d
        + rng.normal(size=units * periods)
    )
    return pd.DataFrame({"unit": np.repeat(np.arange(units), periods), "time": t, "d": d, "y": y})


def _layout(df: pd.DataFrame, layout: str) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    if layout == "shuffled":
        return df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    if layout == "unbalanced":
        keep = np.flatnonzero(rng.random(len(df)) >= 0.1)
        return df.iloc[rng.permutation(keep)].reset_index(drop=True)
    return df


def _exact(df: pd.DataFrame, periods: int) -> tuple[float, float]:
    """Coefficient and SE (pyfixest's small-sample factor) of a balanced panel in long double:
    the arbiter when truelift and a peer differ in the last digits."""
    order = np.lexsort((df["time"].to_numpy(), df["unit"].to_numpy()))
    N = len(df) // periods

    def within(col: str) -> np.ndarray:
        A = df[col].to_numpy()[order].astype(np.longdouble).reshape(N, periods)
        A -= A.mean(axis=1, keepdims=True)
        A -= A.mean(axis=0, keepdims=True)
        return A

    x, y = within("d"), within("y")
    xx = (x * x).sum()
    beta = (x * y).sum() / xx
    y -= beta * x
    score = (x * y).sum(axis=1)
    n, K = N * periods, 1 + periods  # unit effects nested in the unit clusters: not counted
    factor = (N / (N - 1)) * ((n - 1) / (n - K))
    return float(beta), float(np.sqrt(factor * (score**2).sum()) / xx)


def _timed(fn: Any) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def _truelift(df: pd.DataFrame) -> tuple[float, float, tuple[float, float]]:
    from truelift.did import twfe

    wall, cpu, e = _timed(
        lambda: twfe(df, outcome="y", unit="unit", time="time", treatment="d", fe_dof="nested")
    )
    return wall, cpu, (e.estimate, e.std_error)


def _pyfixest(df: pd.DataFrame) -> tuple[float, float, tuple[float, float]] | None:
    try:
        import pyfixest as pf
    except ImportError:
        return None
    wall, cpu, fit = _timed(lambda: pf.feols("y ~ d | unit + time", data=df, vcov={"CRV1": "unit"}))
    return wall, cpu, (float(fit.coef()["d"]), float(fit.se()["d"]))


def _linearmodels(df: pd.DataFrame) -> tuple[float, float, tuple[float, float]] | None:
    try:
        from linearmodels.panel import PanelOLS
    except ImportError:
        return None

    def run() -> Any:
        p = df.set_index(["unit", "time"])
        model = PanelOLS(p["y"], p[["d"]], entity_effects=True, time_effects=True)
        return model.fit(cov_type="clustered", cluster_entity=True)

    wall, cpu, fit = _timed(run)
    return wall, cpu, (float(fit.params["d"]), float(fit.std_errors["d"]))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--periods", type=int, default=10)
    ap.add_argument("--skip-peer-above", type=int, default=None)
    ap.add_argument(
        "--layouts", nargs="+", default=["sorted"], choices=["sorted", "shuffled", "unbalanced"]
    )
    ap.add_argument(
        "--exact", action="store_true", help="also a long-double fit of the balanced layouts"
    )
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for n, layout in [(n, lay) for n in args.sizes for lay in args.layouts]:
        df = _layout(_data(n, args.periods), layout)
        small = _layout(_data(2000, args.periods), layout)  # a whole small panel: no singletons
        for warm in (_truelift, _pyfixest, _linearmodels):  # imports, JIT compilation
            warm(small)
        t_tl, c_tl, v_tl = _truelift(df)
        print(
            f"n={len(df):,} ({layout}): truelift {t_tl:.3f}s (cpu {c_tl:.3f}s)  "
            f"coef {v_tl[0]:.10f}  se {v_tl[1]:.10f}"
        )
        exact = _exact(df, args.periods) if args.exact and layout != "unbalanced" else None
        if exact is not None:
            print(
                f"  long double: |dcoef| {abs(exact[0] - v_tl[0]):.2e}  "
                f"|dse| {abs(exact[1] - v_tl[1]):.2e}"
            )
        for name, fn in (("pyfixest", _pyfixest), ("linearmodels", _linearmodels)):
            if args.skip_peer_above is not None and n > args.skip_peer_above:
                continue
            res = fn(df)
            if res is None:
                print(f"  {name}: not installed, skipped")
                continue
            t_p, c_p, v_p = res
            row = {
                "cpu_ratio": c_p / c_tl,
                "n": len(df),
                "layout": layout,
                "peer": name,
                "truelift_s": t_tl,
                "truelift_cpu_s": c_tl,
                "peer_s": t_p,
                "peer_cpu_s": c_p,
                "ratio": t_p / t_tl,
                "d_coef": abs(v_p[0] - v_tl[0]),
                "d_se": abs(v_p[1] - v_tl[1]),
            }
            rows.append(row)
            vs_exact = (
                f"  long double |dcoef| {abs(exact[0] - v_p[0]):.2e} |dse| {abs(exact[1] - v_p[1]):.2e}"
                if exact is not None
                else ""
            )
            print(
                f"  {name}: {t_p:.2f}s (cpu {c_p:.2f}s)  ratio {t_p / t_tl:.1f}x "
                f"(cpu {c_p / c_tl:.1f}x)  |dcoef| {row['d_coef']:.2e}  "
                f"|dse| {row['d_se']:.2e}{vs_exact}"
            )
    return rows


if __name__ == "__main__":
    main()
