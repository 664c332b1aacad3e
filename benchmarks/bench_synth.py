"""Speed of truelift.synth against pysyncon: SC fit and full placebo-in-space inference.

Panels of 50, 200 and 1,000 donors (30 pre-periods, 10 post, a two-factor model). truelift runs
``synth(method="sc", inference="placebo")`` end to end (data boundary, fit, every donor as a
placebo, diagnostics). pysyncon (``Synth.fit`` with matrices and a fixed equal ``V`` on the lagged
outcomes, i.e. the same outcome-only problem, solved by SLSQP) is timed on the treated fit and on
the placebo loop in one process; where the full loop would take too long (``--pysyncon-max``) its
placebo time is the measured per-fit time times the number of donors, and says so.

    python benchmarks/bench_synth.py [--sizes 50 200 1000] [--pysyncon-max 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from truelift.synth import synth


def panel(n_donors: int, seed: int = 0, t0: int = 30, t1: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, t = n_donors + 1, t0 + t1
    f = np.cumsum(rng.normal(0, 1, (2, t)), axis=1)
    Y = rng.uniform(5, 10, (n, 1)) + rng.uniform(0.5, 1.5, (n, 2)) @ f
    Y[0] = rng.dirichlet(np.ones(4)) @ Y[1:5]
    Y += rng.normal(0, 0.3, (n, t))
    Y[0, t0:] += 1.0
    return pd.DataFrame(
        {
            "unit": np.repeat([f"u{i:04d}" for i in range(n)], t),
            "time": np.tile(np.arange(t), n),
            "y": Y.ravel(),
            "d": np.concatenate([np.r_[np.zeros(t0), np.ones(t1)], np.zeros((n - 1) * t)]),
        }
    )


def time_truelift(df: pd.DataFrame) -> tuple[float, float]:
    t = time.perf_counter()
    synth(df, outcome="y", unit="unit", time="time", treatment="d", inference=None)
    fit = time.perf_counter() - t
    t = time.perf_counter()
    synth(df, outcome="y", unit="unit", time="time", treatment="d", inference="placebo")
    return fit, time.perf_counter() - t


def time_pysyncon(df: pd.DataFrame, t0: int, full: bool) -> tuple[float, float, str] | None:
    try:
        from pysyncon import Synth
    except ImportError:
        return None
    Y = df.pivot(index="time", columns="unit", values="y")
    pre = Y.iloc[:t0]
    v = np.full(t0, 1.0 / t0)

    def fit(treated: str, donors: list[str]) -> None:
        Synth().fit(X0=pre[donors], X1=pre[treated], Z0=pre[donors], Z1=pre[treated], custom_V=v)

    units = list(Y.columns)
    t = time.perf_counter()
    fit(units[0], units[1:])
    one = time.perf_counter() - t
    if not full:
        return one, one * (len(units) - 1), "extrapolated: per-fit time x donors"
    t = time.perf_counter()
    for j in units[1:]:
        fit(j, [u for u in units[1:] if u != j])
    return one, time.perf_counter() - t, "measured"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    ap.add_argument("--pysyncon-max", type=int, default=50)
    args = ap.parse_args()
    print(
        f"{'donors':>7} {'tl fit':>8} {'tl placebo':>11} {'ps fit':>8} {'ps placebo':>11} "
        f"{'fit ratio':>10} {'placebo ratio':>14}  note"
    )
    for n in args.sizes:
        df = panel(n)
        tf, tp = time_truelift(df)
        ps = time_pysyncon(df, 30, full=n <= args.pysyncon_max)
        if ps is None:
            print(f"{n:>7} {tf:8.3f} {tp:11.3f}  (pysyncon not installed)")
            continue
        pf, pp, note = ps
        print(
            f"{n:>7} {tf:8.3f} {tp:11.3f} {pf:8.3f} {pp:11.2f} {pf / tf:10.1f}x "
            f"{pp / tp:13.1f}x  {note}",
            flush=True,
        )


if __name__ == "__main__":
    main()
