"""The IV demo-report section runs and shows the headline, the truth and the weak-IV failure."""

from __future__ import annotations

import matplotlib

from truelift.report.html import HtmlReport
from truelift.report.sections import iv as section

matplotlib.use("Agg")


def test_section_renders():
    report = HtmlReport(title="t")
    section.section(report, seed=42)
    page = report.render()
    assert section.TITLE and isinstance(section.ORDER, int)
    assert "LATE" in page and "complier" in page
    assert "Anderson–Rubin" in page and "DOWNGRADED" in page
    assert "<svg" in page
