"""Demo section: randomized access, voluntary use, estimated with instrumental variables.

Imbens & Angrist (1994) and Angrist, Imbens & Rubin (1996) for the LATE; Montiel Olea & Pflueger
(2013) effective F; Anderson & Rubin (1949) weak-instrument-robust confidence sets.
"""

from __future__ import annotations

from typing import Any

from truelift.iv import iv
from truelift.naive import naive_difference
from truelift.plot.iv import plot
from truelift.simulate import simulate

TITLE = "Randomized access, voluntary use: instrumental variables"
ORDER = 20

_KW: dict[str, Any] = {
    "outcome": "tasks_completed",
    "treatment": "used_feature",
    "instrument": "access",
}


def _row(label: str, e: Any, truth: float | None) -> list[str]:
    ci = f"[{e.ci_low:+.3f}, {e.ci_high:+.3f}]"
    return [
        label,
        f"{e.estimate:+.4f}",
        "—" if e.std_error != e.std_error else f"{e.std_error:.4f}",
        ci,
        "—" if truth is None else f"{truth:+.4f}",
        e.status,
    ]


def _truth_table(report: Any, res: Any, naive: Any, truths: dict[str, float]) -> None:
    keys = {"ITT": "itt", "first stage (complier share)": "complier_share", "LATE": "late"}
    rows = [_row(label, res[label], truths[keys[label]]) for label in res.labels]
    rows.append(_row("naive: users vs non-users (not causal)", naive, None))
    rows.append(["ATE over all users (truth only)", "—", "—", "—", f"{truths['ate']:+.4f}", "—"])
    report.table(["quantity", "estimate", "SE", "95% CI", "truth", "status"], rows)


def _profile(report: Any, profile: dict[str, dict[str, float]]) -> None:
    report.paragraph(
        "Who are the compliers? Their covariate means (Angrist & Pischke 2009) against all users: "
        "compliers are busier than average, which is why their effect (the LATE) is not the "
        "average effect over all users."
    )
    report.table(
        ["covariate", "compliers", "all users"],
        [[k, f"{v['compliers']:.3f}", f"{v['all']:.3f}"] for k, v in profile.items()],
    )


def section(report: Any, *, seed: int) -> None:
    """Access randomized, use voluntary: ITT, complier share, LATE; then a weak instrument."""
    report.heading(TITLE)
    report.paragraph(
        "A team randomly gave half of its users access to an AI assistant; whether they used it "
        "was up to them (some got it anyway through a beta channel). Comparing users with "
        "non-users is biased: the users who choose the assistant were busier to begin with. "
        "The randomized comparison of access vs no access (intent to treat, ITT) is causal; "
        "dividing it by the share of users whose use the access changed (the compliers) gives "
        "the effect of using the assistant on those compliers (LATE, the Wald / 2SLS "
        "estimator). Assumptions: access is random, it changes the outcome only through use "
        "(exclusion), and no one uses the assistant because access was withheld "
        "(monotonicity). The LATE is not the effect on all users: compliers gain more than "
        "users who would never use it. Estimates are adjusted for engagement tier and prior "
        "tasks (pre-period covariates), which tightens them without changing what they estimate."
    )
    sim = simulate("access", n_users=20_000, seed=seed, always_takers=True)
    res = iv(sim.data, covariates=["engagement_tier", "prior_tasks"], **_KW)
    naive = naive_difference(sim.data, treatment="used_feature", outcome="tasks_completed")
    report.result(res)
    _truth_table(report, res, naive, dict(sim.truths))
    _profile(report, res.details["complier_profile"])
    report.figure(
        plot(res),
        caption="Take-up and weekly tasks by access arm; the Anderson–Rubin check of the LATE.",
    )
    report.paragraph(
        "Failure switch: when take-up is very low, access barely moves use, the instrument is "
        "weak and 2SLS is unreliable. The effective F falls below the Montiel Olea–Pflueger "
        "critical value, the headline is downgraded, and its interval becomes the "
        "Anderson–Rubin set, which stays valid however weak the instrument (it may be "
        "unbounded, or the union of two half-lines)."
    )
    weak = simulate("access", n_users=20_000, seed=seed, always_takers=True, weak=True)
    wres = iv(weak.data, **_KW)
    report.result(wres)
    report.table(
        ["quantity", "estimate", "SE", "95% CI (hull)", "truth", "status"],
        [
            _row("LATE", wres["LATE"], weak.truths["late"]),
            ["Anderson–Rubin set", wres.details["ar_set_text"], "", "", "", ""],
        ],
    )
    report.figure(plot(wres), caption="Weak instrument: the Anderson–Rubin set is the headline.")
