"""Benchmark: truelift.did.staggered.did (Callaway & Sant'Anna) against csdid and differences.

Run: ``python -m benchmarks.bench_did_staggered [--sizes 100000 1000000] [--periods 10]`` in an
environment with the peers (``pip install csdid differences``); a missing peer is skipped.
The panel is balanced (units x periods), cohorts first treated in periods 4, 6, 8 plus a
never-treated group; every call estimates all ATT(g,t) with the doubly robust estimator, no
covariates, never-treated comparison, analytic SEs (no bootstrap), and the simple aggregation.
Prints seconds, speed ratios (peer / truelift) and the largest absolute differences in the
ATT(g,t), their SEs and the simple aggregation.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

Result = tuple[float, dict[tuple[float, float], tuple[float, float]], tuple[float, float]]


def _data(n: int, periods: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units = n // periods
    cohort = rng.choice(np.array([0, 4, 6, 8]), size=units)
    t = np.tile(np.arange(1, periods + 1), units)
    g = np.repeat(cohort, periods)
    effect = np.where((g > 0) & (t >= g), 0.5 + 0.1 * (t - g), 0.0)
    y = np.repeat(rng.normal(size=units), periods) + 0.1 * t + effect + rng.normal(size=t.size)
    return pd.DataFrame({"unit": np.repeat(np.arange(units), periods), "time": t, "g": g, "y": y})


def _truelift(df: pd.DataFrame) -> Result:
    from truelift.did.staggered import did

    t0 = time.perf_counter()
    res = did(df, outcome="y", unit="unit", time="time", cohort="g")
    el = time.perf_counter() - t0
    gt = res.details["att_gt"]
    cells = {
        (g, t): (a, s)
        for g, t, a, s in zip(gt["group"], gt["time"], gt["att"], gt["se"], strict=True)
    }
    head = res.headline_estimate
    assert head is not None
    return el, cells, (head.estimate, head.std_error)


def _csdid(df: pd.DataFrame) -> Result | None:
    try:
        from csdid.att_gt import ATTgt
    except ImportError:
        return None
    t0 = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        fit = ATTgt(yname="y", tname="time", idname="unit", gname="g", data=df).fit(
            est_method="dr", bstrap=False
        )
        agg = fit.aggte(typec="simple", bstrap=False)
    el = time.perf_counter() - t0
    r = fit.results
    cells = {
        (float(g), float(t)): (float(a), float(s))
        for g, t, a, s in zip(r["group"], r["year"], r["att"], r["se"], strict=True)
    }
    simple = agg.atte if hasattr(agg, "atte") else fit.atte
    return el, cells, (float(simple["overall_att"]), float(simple["overall_se"]))


def _differences(df: pd.DataFrame) -> Result | None:
    try:
        from differences import ATTgt
    except ImportError:
        return None
    d = df.assign(g=df["g"].where(df["g"] > 0)).set_index(["unit", "time"])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att = ATTgt(data=d, cohort_column="g")
        att.fit(formula="y", est_method="dr", control_group="never_treated", progress_bar=False)
        simple = att.aggregate("simple")
    el = time.perf_counter() - t0
    cells = {}
    for (g, _, t), row in att.results().iterrows():
        cells[(float(g), float(t))] = (float(row.iloc[0]), float(row.iloc[1]))
    return el, cells, (float(simple.iloc[0, 0]), float(simple.iloc[0, 1]))


def _compare(base: Result, other: Result) -> tuple[float, float, float]:
    _, c0, h0 = base
    _, c1, h1 = other
    common = set(c0) & set(c1)
    d_att = max((abs(c0[k][0] - c1[k][0]) for k in common), default=float("nan"))
    d_se = max((abs(c0[k][1] - c1[k][1]) for k in common), default=float("nan"))
    return d_att, d_se, max(abs(h0[0] - h1[0]), abs(h0[1] - h1[1]))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--periods", type=int, default=10)
    ap.add_argument("--skip-peer-above", type=int, default=None)
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        df = _data(n, args.periods)
        _truelift(df.head(1000))  # warm imports
        base = _truelift(df)
        print(
            f"n={n:,}: truelift {base[0]:.2f}s  simple ATT {base[2][0]:.6f} (se {base[2][1]:.6f})"
        )
        for name, fn in (("csdid", _csdid), ("differences", _differences)):
            if args.skip_peer_above is not None and n > args.skip_peer_above:
                continue
            try:
                res = fn(df)
            except Exception as exc:  # a peer failing must not stop the benchmark
                print(f"  {name}: failed ({type(exc).__name__}: {exc})")
                continue
            if res is None:
                print(f"  {name}: not installed, skipped")
                continue
            d_att, d_se, d_head = _compare(base, res)
            row = {
                "n": n,
                "peer": name,
                "truelift_s": base[0],
                "peer_s": res[0],
                "ratio": res[0] / base[0],
                "d_att": d_att,
                "d_se": d_se,
                "d_simple": d_head,
            }
            rows.append(row)
            print(
                f"  {name}: {res[0]:.2f}s  ratio {row['ratio']:.1f}x  |dATT(g,t)| {d_att:.2e}  "
                f"|dSE| {d_se:.2e}  |d simple| {d_head:.2e}"
            )
    return rows


if __name__ == "__main__":
    main()
