"""Demo section: randomized experiments (A/B readout with CUPED and ratio metrics, the SRM gate,
sequential monitoring, cluster randomization).

Lin (2013) / Deng et al. (2013) regression adjustment; Deng, Knoblich & Lu (2018) delta method;
Fabijan et al. (2019) SRM; Waudby-Smith et al. (2023) confidence sequences.
"""

from __future__ import annotations

from typing import Any, cast

from truelift.experiment import ab_test, sequential_test
from truelift.plot.experiment import plot
from truelift.result import Estimate, EstimateSet
from truelift.simulate import simulate

TITLE = "Randomized experiments: A/B readouts"
ORDER = 10


def _row(label: str, e: Any, truth: float) -> list[str]:
    return [
        label,
        e.method,
        f"{e.estimate:+.4g}",
        f"[{e.ci_low:+.4g}, {e.ci_high:+.4g}]",
        f"{e.std_error:.3g}",
        f"{truth:+.4g}",
    ]


def section(report: Any, *, seed: int) -> None:
    """A new assistant prompt, randomized by user: the readout, its checks and a failure."""
    report.heading(TITLE)
    report.paragraph(
        "A new assistant prompt was randomized by user (50/50). Randomization makes the arms "
        "comparable, so the difference in means is the prompt's effect. Assumptions: assignment "
        "was random and every assigned user is counted (checked by the sample-ratio-mismatch "
        "test, which withholds the readout when it fails), and users do not affect each other "
        "(if colleagues share the feature, randomize whole workspaces). A pre-period metric "
        "(CUPED / Lin regression adjustment) shrinks the interval without bias."
    )
    sim = simulate("experiment", n_users=20_000, seed=seed)
    d, truths = sim.data, sim.truths
    readout = cast(
        EstimateSet,
        ab_test(
            d,
            outcome=["task_completed", "active_minutes", "latency_ms"],
            ratio=[("tasks_completed", "sessions"), ("tokens", "sessions")],
            variant="variant",
        ),
    )
    report.result(readout)
    cuped = ab_test(
        d, outcome="active_minutes", variant="variant", covariates=["pre_active_minutes"]
    )
    keys = {
        "task_completed": "ate_task_completed",
        "active_minutes": "ate_active_minutes",
        "latency_ms": "ate_latency_ms",
        "tasks_completed / sessions": "ate_tasks_per_session",
        "tokens / sessions": "ate_tokens_per_session",
    }
    rows = [_row(label, readout[label], truths[key]) for label, key in keys.items()]
    rows.insert(
        2, _row("active_minutes (CUPED/Lin on pre-period)", cuped, truths["ate_active_minutes"])
    )
    report.table(["metric", "method", "estimate", "95% CI", "SE", "truth"], rows)
    report.figure(plot(readout), "Arm means and relative lift per metric.")
    seq = sequential_test(d, outcome="task_completed", variant="variant", looks=20)
    report.paragraph(
        "Peeking: the team looked at the test every day. Checking a fixed-horizon interval at "
        "every look inflates false positives; the always-valid confidence sequence below stays "
        "valid at every look, so the test can be stopped as soon as it excludes zero."
    )
    report.figure(
        plot(seq, truth=truths["ate_task_completed"]),
        "Running estimate, confidence sequence and the naive interval.",
    )
    _failures(report, seed=seed)


def _failures(report: Any, *, seed: int) -> None:
    bad = simulate("experiment", n_users=20_000, seed=seed, srm=True)
    est = cast(Estimate, ab_test(bad.data, outcome="task_completed", variant="variant"))
    srm = est.diagnostic("sample ratio mismatch")
    report.callout(
        f"Failure switch (sample ratio mismatch): 20% of the treated users who failed their task "
        f"were lost from the logs. The arms are no longer 50/50 (p = {srm.value:.2g}); the naive "
        f"readout would claim {est.estimate:+.3f} against a true "
        f"{bad.truths['ate_task_completed']:+.3f}, and truelift withholds it."
    )
    report.result(est)
    cl = simulate(
        "experiment", n_users=20_000, seed=seed, randomization="workspace", spillover=0.05
    )
    wrong = cast(Estimate, ab_test(cl.data, outcome="task_completed", variant="variant"))
    right = cast(
        Estimate,
        ab_test(cl.data, outcome="task_completed", variant="variant", cluster="workspace_id"),
    )
    truth = cl.truths["ate_task_completed"]
    covers = right.ci_low <= truth <= right.ci_high
    ratio = (right.ci_high - right.ci_low) / (wrong.ci_high - wrong.ci_low)
    report.paragraph(
        "Cluster randomization: a collaborative feature spills over between colleagues, so "
        "whole workspaces were randomized. Analysed per user, the rows are treated as "
        f"independent and the interval is too narrow (the honest one is {ratio:.1f} times "
        f"wider); the row-count SRM check reads the unequal workspace sizes as a mismatch "
        f"(status: {wrong.status}). Analysed per workspace (cluster=), the interval "
        + ("covers" if covers else "misses")
        + f" the launch effect {truth:+.3f} (direct effect plus spillover)."
    )
    report.table(
        ["analysis", "estimate", "95% CI", "status", "truth"],
        [
            [
                "per user (wrong)",
                f"{wrong.estimate:+.4f}",
                f"[{wrong.ci_low:+.4f}, {wrong.ci_high:+.4f}]",
                wrong.status,
                f"{cl.truths['ate_task_completed']:+.4f}",
            ],
            [
                "per workspace (cluster=)",
                f"{right.estimate:+.4f}",
                f"[{right.ci_low:+.4f}, {right.ci_high:+.4f}]",
                right.status,
                f"{cl.truths['ate_task_completed']:+.4f}",
            ],
        ],
    )
