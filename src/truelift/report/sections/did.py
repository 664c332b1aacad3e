"""Demo section: staged rollouts, estimated by difference in differences.

Card & Krueger (1994) 2x2; two-way fixed effects and its Goodman-Bacon (2021) decomposition;
event study with a joint pre-trend test (Roth 2022; Rambachan & Roth 2023); Callaway & Sant'Anna
(2021) for staggered adoption.
"""

from __future__ import annotations

from typing import Any

from truelift.did.bacon import bacon
from truelift.did.event_study import event_study
from truelift.did.staggered import did
from truelift.did.twfe import twfe
from truelift.did.two_by_two import did_2x2
from truelift.plot.did import bacon_plot, event_study_plot, group_means_plot
from truelift.simulate import simulate

TITLE = "Staged rollouts: difference in differences"
ORDER = 30

_PANEL: dict[str, Any] = {"outcome": "tasks", "unit": "user_id", "time": "week"}


def _saas(report: Any, seed: int) -> None:
    sim = simulate("saas", n_users=50_000, seed=seed)
    d = sim.data[sim.data["signup_week"] < 30].copy()
    d["post"] = (d["signup_week"] >= 20).astype(int)
    d["treated"] = (d["wave"] == 1).astype(int)
    raw = did_2x2(d, outcome="task_completed", treated="treated", post="post")
    adj = did_2x2(
        d,
        outcome="task_completed",
        treated="treated",
        post="post",
        covariates=["engagement_tier"],
        cluster="workspace_id",
    )
    truth = sim.truths["rollout_att"]
    report.paragraph(
        "SaaS table: wave 1 workspaces got the feature in week 20, wave 2 in week 30. Comparing "
        "users who signed up before and after week 30 within wave 1 alone would mix the feature "
        "with the weekly signal; the 2x2 difference in differences subtracts wave 2's change over "
        "the same weeks (signup weeks < 30, so wave 2 is still untreated)."
    )
    report.result(adj)
    report.table(
        ["estimator", "estimate", "SE", "95% CI", "truth"],
        [
            [
                e.method,
                f"{e.estimate:+.4f}",
                f"{e.std_error:.4f}",
                f"[{e.ci_low:+.4f}, {e.ci_high:+.4f}]",
                f"{truth:+.4f}",
            ]
            for e in (raw, adj)
        ],
    )
    report.figure(group_means_plot(raw), "Cell means and the parallel-trends counterfactual.")


def section(report: Any, *, seed: int) -> None:
    """2x2 on the SaaS table; TWFE vs Callaway-Sant'Anna on a staggered rollout; a failure."""
    report.heading(TITLE)
    report.paragraph(
        "When a feature ships in waves, difference in differences compares how outcomes changed "
        "for users who got it with how they changed for users who did not (yet). Assumptions: "
        "parallel trends (without the feature both groups would have moved alike), no "
        "anticipation, and adoption that does not switch off. Inference: cluster-robust "
        "standard errors (wild cluster bootstrap with few clusters)."
    )
    _saas(report, seed)
    sim = simulate("rollout", n_users=2_000, seed=seed)
    tw = twfe(sim.data, treatment="treated", **_PANEL)
    bd = bacon(sim.data, treatment="treated", **_PANEL)
    es = event_study(sim.data, cohort="cohort", **_PANEL)
    cs = did(sim.data, cohort="cohort", aggregation="simple", **_PANEL)
    cs_dyn = did(sim.data, cohort="cohort", aggregation="dynamic", **_PANEL)
    report.paragraph(
        "Rollout panel: three cohorts (weeks 4, 6, 8) and a never-treated group; the effect grows "
        "with exposure and is largest for early cohorts. Two-way fixed effects then compares late "
        "adopters with early adopters who are already treated, and their growing effect is "
        "subtracted: the TWFE coefficient lands far below the true average effect. "
        "Callaway & Sant'Anna compare each cohort only with not-yet/never-treated users."
    )
    rows = []
    for name, e, key in (
        ("TWFE", tw, "att_simple"),
        ("Callaway & Sant'Anna, simple", cs.headline_estimate, "att_simple"),
        ("TWFE event study, mean of e >= 0", es.headline_estimate, "att_dynamic"),
        ("Callaway & Sant'Anna, dynamic", cs_dyn.headline_estimate, "att_dynamic"),
    ):
        if e is not None:
            ci = f"[{e.ci_low:+.3f}, {e.ci_high:+.3f}]"
            rows.append([name, f"{e.estimate:+.3f}", ci, key, f"{sim.truths[key]:+.3f}"])
    report.table(["estimator", "estimate", "95% CI", "target", "truth"], rows)
    report.table(
        ["2x2 comparison type", "weight", "average 2x2 estimate"],
        [
            [k, f"{v['weight']:.3f}", f"{v['estimate']:+.3f}"]
            for k, v in bd.details["by_type"].items()
        ],
    )
    report.figure(bacon_plot(bd), "Goodman-Bacon decomposition: each 2x2 and its TWFE weight.")
    dyn = {e: sim.truths[f"att_dynamic_e{e}"] for e in range(7)}
    report.figure(event_study_plot(es, truth=dyn), "TWFE event study (reference e = -1) and truth.")
    report.figure(group_means_plot(es), "Cohort means and the estimated counterfactual paths.")
    bad = simulate("rollout", n_users=2_000, seed=seed, pretrend=True)
    worse = event_study(bad.data, cohort="cohort", **_PANEL)
    pre = next(d for d in worse.diagnostics if d.name == "pre-trends")
    rm = worse.details["relative_magnitudes"]
    report.callout(
        f"Failure switch (pretrend): users in the rollout cohorts were already trending up before "
        f"the feature. The joint pre-trend test fails (p = {pre.value:.2g}) and the headline is "
        f"{worse.status}; allowing post-period departures as large as the largest pre-period "
        f"step widens the interval to [{rm['ci_low']:+.3f}, {rm['ci_high']:+.3f}]."
    )
    report.result(worse)
