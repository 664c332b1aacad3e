"""The demo: simulate every scenario, let the advisor pick each design, analyse, compare with truth.

``build_demo(out)`` writes ``out`` (HTML, self-contained) and, beside it, the same analyses as
Markdown (``.md``) and JSON (``.json``). The page opens with the answer for every rollout and for
every broken-assumption case, then each analysis in full, then one deep-dive section per design.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from truelift.analysis import Analysis
from truelift.naive import naive_difference
from truelift.plot import forest
from truelift.report.analysis import add_analysis, write_report
from truelift.report.html import HtmlReport
from truelift.report.overview import CASES, FAILURES, Case, run_case
from truelift.report.sections import all_sections
from truelift.result import EstimateSet
from truelift.simulate import simulate

__all__ = ["Progress", "build_demo", "demo_steps"]

Progress = Callable[[str], None]
"""Called with a short label before each step of the demo."""

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


def demo_steps() -> int:
    """How many times ``build_demo`` calls its ``progress`` callback."""
    return 1 + len(CASES) + len(FAILURES) + len(all_sections()) + 1


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:+.4f}"


def _answer(a: Analysis) -> str:
    if a.status == "not identifiable":
        return "not identifiable"
    if a.status == "withheld":
        return "withheld"
    shown = _fmt(a.headline)
    return f"{shown} (downgraded)" if a.status == "downgraded" else shown


def _interval(a: Analysis) -> str:
    main = a.main
    if main is None or a.status == "withheld":
        return "—"
    return f"[{main.ci_low:+.4f}, {main.ci_high:+.4f}]"


def _design(a: Analysis) -> str:
    return a.design if a.estimator in (None, a.design) else f"{a.design} ({a.estimator})"


def _overview(report: HtmlReport, cases: tuple[Case, ...], done: list[Analysis]) -> None:
    report.heading("Every rollout: the design truelift picks, its answer, and the truth")
    report.paragraph(
        "For each way a feature reached users, the advisor chose the design from the rollout "
        "facts alone; analyze() ran it with all its diagnostics. The truth column is the "
        "simulator's true effect for the estimand the design targets."
    )
    report.table(
        ["feature", "how it shipped", "design", "answer", "95% CI", "truth", "naive"],
        [
            [
                c.label,
                c.how,
                _design(a),
                _answer(a),
                _interval(a),
                _fmt(a.truth),
                _fmt(a.naive.estimate if a.naive is not None else None),
            ]
            for c, a in zip(cases, done, strict=True)
        ],
    )


def _failures(report: HtmlReport, cases: tuple[Case, ...], done: list[Analysis]) -> None:
    report.heading("When an assumption breaks, the headline changes")
    report.paragraph(
        "Each case flips one simulator switch that breaks the design's key assumption. The check "
        "that tests it fails, and truelift withholds or downgrades the number instead of "
        "reporting it as if nothing happened."
    )
    rows = []
    for c, a in zip(cases, done, strict=True):
        failed = [
            d.name
            for d in (a.result.diagnostics if a.result is not None else ())
            if d.verdict == "fail"
        ]
        main = a.main
        rows.append(
            [
                c.label,
                c.how,
                _design(a),
                c.breaks or "—",
                ", ".join(failed) or "none",
                a.status,
                _answer(a),
                _fmt(main.estimate if main is not None else None),
                _fmt(a.truth),
            ]
        )
    report.table(
        [
            "case",
            "what broke",
            "design",
            "assumption tested by",
            "failed checks",
            "status",
            "headline shown",
            "number without the policy",
            "truth",
        ],
        rows,
    )


def _naive_table(report: HtmlReport, n_users: int, seed: int) -> None:
    sim = simulate("saas", n_users=n_users, seed=seed)
    naive = EstimateSet(
        title="Naive comparisons on task_completed",
        estimates=tuple(
            (label, naive_difference(sim.data, treatment=col, outcome="task_completed"))
            for col, label, _, _ in FEATURES
        ),
        method="naive difference in means",
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


def build_demo(
    out: str | Path = "truelift-report/index.html",
    *,
    n_users: int = 50_000,
    seed: int = 42,
    progress: Progress | None = None,
) -> Path:
    """Run the demo and write the report to ``out`` (HTML) plus ``.md`` and ``.json`` beside it.

    ``n_users`` sizes the naive-comparison table on the ``saas`` scenario; every other case uses
    the size its design needs. Returns the HTML path.
    """
    step = progress or (lambda _label: None)
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        out = out / "index.html"
    report = HtmlReport(
        title="truelift demo: what did the AI features really do?",
        subtitle=f"Simulated AI-assisted SaaS product, seed {seed}. Every number below is "
        "computed from simulated data whose true effects are known.",
    )
    step("naive comparisons")
    _naive_table(report, n_users, seed)
    answers: list[Analysis] = []
    for case in CASES:
        step(case.label)
        answers.append(run_case(case, seed=seed))
    broken: list[Analysis] = []
    for case in FAILURES:
        step(case.label)
        broken.append(run_case(case, seed=seed))
    _overview(report, CASES, answers)
    _failures(report, FAILURES, broken)
    report.heading("Each analysis in full")
    for a in (*answers, *broken):
        add_analysis(report, a)
    for module in all_sections():
        step(module.TITLE)
        module.section(report, seed=seed)  # each section opens with its own TITLE heading
    step("writing the report")
    path = report.write(out)
    write_report([*answers, *broken], out.with_suffix(".md"), title=report.title)
    write_report([*answers, *broken], out.with_suffix(".json"), title=report.title)
    return path
