"""Reports built from results only: self-contained HTML (inline SVG, no network), Markdown, JSON."""

from truelift.report.html import HtmlReport, figure_to_svg

__all__ = ["HtmlReport", "figure_to_svg"]
