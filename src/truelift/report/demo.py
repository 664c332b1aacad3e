"""The demo: simulate the SaaS table and show what naive comparisons claim against the truth."""

from __future__ import annotations

from pathlib import Path

from truelift.naive import naive_difference
from truelift.plot import forest
from truelift.report.html import HtmlReport
from truelift.report.sections import all_sections
from truelift.result import EstimateSet
from truelift.simulate import simulate

__all__ = ["build_demo"]

# (feature column, label, truth key, how it reached users)
FEATURES = (
    ("prompt_variant", "new prompt", "prompt_ate", "randomized by user id"),
    ("opt_in_agent_mode", "agent mode", "agent_att", "self-selected opt-in toggle"),
    (
        "routed_to_premium",
        "premium routing",
        "routing_effect_at_cutoff",
        "threshold router: confidence < 0.85",
    ),
    ("treated_post", "staged rollout", "rollout_att", "wave 1 from week 20, wave 2 from week 30"),
)


def build_demo(out: str | Path, *, n_users: int = 50_000, seed: int = 42) -> Path:
    """Simulate ``saas``, compare naive differences with the true effects, write an HTML page."""
    sim = simulate("saas", n_users=n_users, seed=seed)
    naive = EstimateSet(
        title="Naive comparisons on task_completed",
        estimates=tuple(
            (label, naive_difference(sim.data, treatment=col, outcome="task_completed"))
            for col, label, _, _ in FEATURES
        ),
        method="naive difference in means",
    )
    report = HtmlReport(
        title="truelift demo: what did the AI features really do?",
        subtitle=f"Simulated SaaS product, {n_users:,} users, seed {seed}.",
    )
    agent = naive["agent mode"]
    report.callout(
        f"The opt-in trap: users who turned agent mode on complete {agent.estimate:+.3f} more "
        f"tasks than users who did not, but the feature's true effect is "
        f"{sim.truths['agent_att']:+.3f}. The rest is selection: heavy users opt in most."
    )
    report.heading("Naive comparison vs true effect")
    rows = []
    for col, label, key, how in FEATURES:
        e = naive[label]
        rows.append(
            [
                label,
                how,
                col,
                f"{e.estimate:+.4f}",
                f"[{e.ci_low:+.4f}, {e.ci_high:+.4f}]",
                f"{sim.truths[key]:+.4f}",
                f"{e.estimate - sim.truths[key]:+.4f}",
            ]
        )
    report.table(
        [
            "feature",
            "how it shipped",
            "column",
            "naive difference",
            "95% CI",
            "true effect",
            "bias",
        ],
        rows,
    )
    report.figure(
        forest(naive, title="Naive differences (points) — true effects in the table"),
        caption="Only the randomized prompt test is unbiased.",
    )
    report.heading("Details")
    report.result(naive)
    for module in all_sections():
        report.heading(module.TITLE)
        module.section(report, seed=seed)
    return report.write(out)
