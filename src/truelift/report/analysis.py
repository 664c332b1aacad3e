"""Report pages for :class:`~truelift.analysis.Analysis` objects: HTML, Markdown or JSON.

Per analysis: the question, the design and why, the headline (or the refusal and why), the
estimand in words, the interval, the diagnostics with verdicts, the plot, the assumptions ledger,
what would change the conclusion (sensitivity), the naive comparison and, on simulated data, the
truth beside the estimate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from truelift.analysis import Analysis
from truelift.errors import DataError
from truelift.report.html import HtmlReport, atomic_write_text

__all__ = ["add_analysis", "write_report"]


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:+.4f}"


def add_analysis(report: HtmlReport, analysis: Analysis, *, plot: bool = True) -> None:
    """Append one analysis to an HTML report."""
    report.heading(analysis.question)
    rec = analysis.recommendation
    report.paragraph(
        f"Design: {analysis.design}" + (f" ({analysis.estimator})" if analysis.estimator else "")
    )
    if rec is not None:
        for reason in rec.reasons:
            report.paragraph(f"Why: {reason}")
    report.callout(analysis.message)
    main = analysis.main
    rows: list[list[Any]] = []
    if main is not None:
        rows.append(
            [
                "design estimate",
                _fmt(analysis.headline),
                f"[{main.ci_low:+.4f}, {main.ci_high:+.4f}]",
                main.estimand,
            ]
        )
    if analysis.naive is not None:
        n = analysis.naive
        rows.append(
            [
                "naive comparison",
                _fmt(n.estimate),
                f"[{n.ci_low:+.4f}, {n.ci_high:+.4f}]",
                "not causal unless randomized",
            ]
        )
    if analysis.truth is not None:
        rows.append(["truth (simulated)", _fmt(analysis.truth), "", "known from the simulator"])
    if rows:
        report.table(["", "effect", "interval", "what it is"], rows)
    if analysis.result is not None:
        report.result(analysis.result)
        if plot:
            main = analysis.main
            what = f": {main.estimand}" if main is not None else ""
            report.figure(
                analysis.result.plot(),
                caption=f"{analysis.design} design, {analysis.estimator}{what}",
            )
    if rec is not None and rec.assumptions:
        diags = {
            d.name: d.verdict for d in (analysis.result.diagnostics if analysis.result else ())
        }
        report.table(
            ["assumption", "tested by", "verdicts"],
            [
                [
                    a,
                    "; ".join(rec.diagnostics),
                    ", ".join(f"{k}: {v}" for k, v in diags.items()) or "—",
                ]
                for a in rec.assumptions
            ],
        )
    if analysis.sensitivity is not None:
        report.paragraph("What would change this conclusion:")
        sens = analysis.sensitivity
        if hasattr(sens, "summary"):
            report.result(sens)
        else:
            report.paragraph(str(sens))
    if analysis.result is None and rec is not None:
        report.table(["what would make it identifiable"], [[n] for n in rec.needed])


def write_report(
    analyses: Sequence[Analysis], path: str | Path, *, title: str = "truelift report"
) -> Path:
    """Write analyses to ``path``: ``.html`` (self-contained), ``.md`` or ``.json`` by extension."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix in (".html", ".htm"):
        report = HtmlReport(title=title)
        for a in analyses:
            add_analysis(report, a)
        return report.write(out)
    if suffix == ".md":
        text = f"# {title}\n\n" + "\n\n---\n\n".join(a.summary("markdown") for a in analyses)
        atomic_write_text(out, text)
    elif suffix == ".json":
        atomic_write_text(
            out, json.dumps([a.to_dict() for a in analyses], indent=2, allow_nan=False)
        )
    else:
        raise DataError(
            f"report format is chosen by extension: .html, .md or .json; got {str(out)!r}."
        )
    return out
