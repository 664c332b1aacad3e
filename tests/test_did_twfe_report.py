"""The DiD demo section runs, shows TWFE beside the truth and the pre-trend failure switch."""

from __future__ import annotations

from truelift.report.html import HtmlReport
from truelift.report.sections import all_sections
from truelift.report.sections import did as did_section


def test_section_renders():
    assert did_section in all_sections()
    report = HtmlReport(title="did")
    did_section.section(report, seed=42)
    page = report.render()
    assert "Staged rollouts" in page
    assert "TWFE" in page and "Callaway &amp; Sant&#x27;Anna, dynamic" in page
    assert "later vs earlier treated" in page
    assert "Failure switch (pretrend)" in page and "DOWNGRADED" in page.upper()
    assert page.count("<svg") >= 4
