"""Demo section: global launches, estimated by synthetic control and synthetic DiD.

Abadie, Diamond & Hainmueller (2010); Ferman & Pinto (2021); Arkhangelsky et al. (2021);
Ben-Michael, Feller & Rothstein (2021).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from truelift.plot.synth import gap_plot, paths_plot, plot
from truelift.simulate import simulate
from truelift.synth import synth

TITLE = "Global launches: synthetic control and synthetic DiD"
ORDER = 60

_COLS: dict[str, Any] = {
    "outcome": "task_completion",
    "unit": "product",
    "time": "week",
    "treatment": "launched",
}


def _row(name: str, e: Any, truth: float) -> list[str]:
    shown = "withheld" if e.headline is None else f"{e.estimate:+.4f}"
    return [
        name,
        shown,
        f"{e.std_error:.4f}",
        f"[{e.ci_low:+.4f}, {e.ci_high:+.4f}]",
        f"{truth:+.4f}",
        e.status,
    ]


_HEAD = ["method", "estimate", "SE", "95% CI", "truth", "status"]


def _saas_panel(seed: int) -> pd.DataFrame:
    sim = simulate("saas", n_users=50_000, seed=seed)
    d = sim.data[sim.data["signup_week"] < 30]
    p = d.groupby(["workspace_id", "signup_week"], as_index=False)["task_completed"].mean()
    p["unit"] = np.where(p["workspace_id"] < 25, "wave 1", p["workspace_id"].astype(str))
    out = p.groupby(["unit", "signup_week"], as_index=False)["task_completed"].mean()
    out.attrs["truth"] = sim.truths["rollout_att"]
    return out


def _saas(report: Any, seed: int) -> None:
    p = _saas_panel(seed)
    truth = p.attrs["truth"]
    kw: dict[str, Any] = {
        "outcome": "task_completed",
        "unit": "unit",
        "time": "signup_week",
        "treated_unit": "wave 1",
        "treatment_time": 20,
    }
    sc = synth(p, **kw, method="sc")
    dm = synth(p, **kw, method="demeaned")
    report.paragraph(
        "The failure the tutorials miss. SaaS table, workspace x signup-week mean task completion: "
        "the 25 wave-1 workspaces averaged into one treated unit (feature from week 20) against "
        "the 25 wave-2 workspaces (untreated before week 30). Wave 1 sits above every donor "
        "before launch, so no convex combination of donors can reach it: plain SC picks donors "
        "that were high by chance and reports about +0.08. truelift's convex-hull check fails and "
        "withholds that number; the demeaned estimator matches the path up to a level shift."
    )
    report.result(sc)
    report.table(_HEAD, [_row("plain SC", sc, truth), _row("demeaned SC", dm, truth)])
    report.figure(paths_plot(sc), "Plain SC on wave 1: the synthetic path cannot reach wave 1.")


def section(report: Any, *, seed: int) -> None:
    """Launch scenario (inside the hull), the staged-rollout failure, the outside-hull switch."""
    report.heading(TITLE)
    report.paragraph(
        "When a model upgrade ships to one product (or region) at once there is no holdout. A "
        "synthetic control weights other products so that their combined pre-launch path tracks "
        "the launched one; after launch, the gap is the effect. Assumptions: the donors were not "
        "affected by the launch, a weighted mix of them would have tracked the treated unit "
        "without it (for plain SC, the treated unit lies inside the donors' range), and the "
        "pre-launch fit is good. Inference: placebos (every donor treated in turn)."
    )
    sim = simulate("launch", seed=seed)
    truth = sim.truths["launch_att"]
    sd = synth(sim.data, **_COLS, method="sdid")
    sc = synth(sim.data, **_COLS, method="sc")
    dm = synth(sim.data, **_COLS, method="demeaned")
    report.result(sd)
    report.table(
        _HEAD,
        [_row("synthetic DiD", sd, truth), _row("SC", sc, truth), _row("demeaned SC", dm, truth)],
    )
    report.figure(plot(sd), "Synthetic DiD on the launch scenario: paths, gap, donor weights.")
    _saas(report, seed)
    bad = simulate("launch", seed=seed, outside_hull=True)
    bsc = synth(bad.data, **_COLS, method="sc")
    bdm = synth(bad.data, **_COLS, method="demeaned")
    report.paragraph(
        "Failure switch outside_hull: the flagship's level is lifted above every donor. Plain SC "
        "fails its convex-hull diagnostic and its headline is withheld; demeaned SC still works."
    )
    report.result(bsc)
    report.table(
        _HEAD, [_row("SC", bsc, bad.truths["launch_att"]), _row("demeaned SC", bdm, truth)]
    )
    report.figure(gap_plot(bsc), "Plain SC outside the hull: a large gap before launch.")
