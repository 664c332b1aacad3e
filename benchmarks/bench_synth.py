"""Speed of truelift.synth against pysyncon and synthdid-py, in one run.

Panels of 50, 200 and 1,000 donors (30 pre-periods, 10 post, a two-factor model, one treated
unit inside the hull). Two tasks, each timed end to end on the same panel:

* **SC + placebo-in-space**: truelift ``synth(method="sc", inference="placebo")`` (data boundary,
  fit, every donor as a placebo, diagnostics) against pysyncon ``Synth.fit`` on the same
  outcome-only problem (lagged outcomes as predictors with a fixed equal ``V``, SLSQP), once for
  the treated unit and once per donor as a placebo. Where the pysyncon loop would take too long
  (more donors than ``--pysyncon-max``) its placebo time is the measured time of its treated fit
  times the number of donors, and the row says so.
* **SDID + placebo SE**: truelift ``synth(method="sdid", inference="placebo")`` (every donor as a
  placebo) against synthdid-py (a port of R synthdid) ``synthdid_estimate`` plus
  ``vcov(method="placebo", replications=J)``, the same number of placebo refits. Beyond
  ``--synthdid-max`` donors, synthdid-py runs 20 replications and its time is scaled to J. Above
  ``--sdid-max`` donors (200) the SDID task is skipped: every placebo is a Frank-Wolfe solve over
  all donors, run to synthdid's stopping rule, which is minutes at 1,000 donors.

Peers are optional; a missing one is skipped. Wall-clock and CPU seconds are printed for
truelift (the machine may be shared; CPU time is what the process itself used). Run:

    pip install pysyncon synthdid-py    # in a separate environment
    python benchmarks/bench_synth.py [--sizes 50 200 1000] [--pysyncon-max 50]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from truelift.synth import synth

T0, T1 = 30, 10


def panel(n_donors: int, seed: int = 0, t0: int = T0, t1: int = T1) -> pd.DataFrame:
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


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock seconds, CPU seconds and the return value of ``fn()``."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def truelift_run(df: pd.DataFrame, method: Any) -> tuple[float, float, Any]:
    cols = {"outcome": "y", "unit": "unit", "time": "time", "treatment": "d"}
    return timed(lambda: synth(df, **cols, method=method, inference="placebo"))


def pysyncon_run(df: pd.DataFrame, full: bool) -> tuple[float, str] | None:
    """pysyncon: treated fit plus one fit per donor (measured, or extrapolated)."""
    try:
        from pysyncon import Synth
    except ImportError:
        return None
    Y = df.pivot(index="time", columns="unit", values="y")
    pre = Y.iloc[:T0]
    v = np.full(T0, 1.0 / T0)

    def fit(treated: str, donors: list[str]) -> None:
        Synth().fit(X0=pre[donors], X1=pre[treated], Z0=pre[donors], Z1=pre[treated], custom_V=v)

    units = list(Y.columns)
    one, _, _ = timed(lambda: fit(units[0], units[1:]))
    if not full:
        return one * len(units), "extrapolated: treated-fit time x (donors + 1)"
    loop, _, _ = timed(lambda: [fit(j, [u for u in units[1:] if u != j]) for j in units[1:]])
    return one + loop, "measured"


def synthdid_run(df: pd.DataFrame, full: bool) -> tuple[float, str, float] | None:
    """synthdid-py: estimate plus placebo SE with one replication per donor."""
    try:
        import synthdid
    except ImportError:
        return None
    Y = df.pivot(index="unit", columns="time", values="y").to_numpy()
    Y = np.vstack([Y[1:], Y[:1]])  # controls first, the treated unit last
    J = Y.shape[0] - 1
    fit_t, _, est = timed(lambda: synthdid.synthdid_estimate(Y, J, T0))
    reps = J if full else 20
    se_t, _, _ = timed(
        lambda: synthdid.vcov(est, method="placebo", replications=reps, random_state=0)
    )
    note = "measured" if full else f"{reps} replications measured, scaled to {J}"
    return fit_t + se_t * J / reps, note, float(est)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    ap.add_argument("--pysyncon-max", type=int, default=50)
    ap.add_argument("--synthdid-max", type=int, default=50)
    ap.add_argument("--sdid-max", type=int, default=200)
    args = ap.parse_args()
    print(f"panels: J donors x {T0} pre + {T1} post periods, one treated unit; seconds")
    head = f"{'task':<22} {'J':>5} {'truelift wall':>13} {'cpu':>7} {'peer':>10} {'peer s':>9}"
    print(head + f" {'ratio':>8}  note")
    for n in args.sizes:
        df = panel(n)
        w, c, sc = truelift_run(df, "sc")
        ps = pysyncon_run(df, full=n <= args.pysyncon_max)
        peer = (
            f"{ps[0]:9.2f} {ps[0] / w:7.0f}x  {ps[1]}"
            if ps
            else "        -        -  not installed"
        )
        print(f"{'SC + placebo (space)':<22} {n:>5} {w:13.3f} {c:7.3f} {'pysyncon':>10} {peer}")
        if n > args.sdid_max:
            print(f"{'SDID + placebo SE':<22} {n:>5}  skipped (--sdid-max {args.sdid_max})")
            print(f"{'':<22} {'':>5} placebo p = {sc.p_value:.3f} (SC)")
            continue
        w, c, sd = truelift_run(df, "sdid")
        sy = synthdid_run(df, full=n <= args.synthdid_max)
        if sy:
            same = f"; estimates {sd.estimate:.6f} vs {sy[2]:.6f}"
            peer = f"{sy[0]:9.2f} {sy[0] / w:7.1f}x  {sy[1]}{same}"
        else:
            peer = "        -        -  not installed"
        print(f"{'SDID + placebo SE':<22} {n:>5} {w:13.3f} {c:7.3f} {'synthdid':>10} {peer}")
        print(f"{'':<22} {'':>5} placebo p = {sc.p_value:.3f} (SC), SE {sd.std_error:.3f} (SDID)")


if __name__ == "__main__":
    main()
