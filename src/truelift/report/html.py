"""A self-contained HTML page: inline CSS, plots as inline SVG, no scripts, no network.

Everything user-supplied is escaped; results are embedded through their own ``summary("html")``.
"""

from __future__ import annotations

import html
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

import truelift

__all__ = ["HtmlReport", "atomic_write_text", "figure_to_svg"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f5f7}td.pass{color:#1a7f37;font-weight:600}td.warn{color:#9a6700;font-weight:600}
td.fail{color:#cf222e;font-weight:600}.status-note{background:#fff4e5;border-left:4px solid #d97706;
padding:.5em .8em}.status-withheld .status-note{background:#ffebe9;border-left-color:#cf222e}
.callout{background:#eef6ff;border-left:4px solid #1f5fa8;padding:.6em 1em;margin:1em 0}
.meta{color:#666;font-size:.85em}figure{margin:1em 0}svg{max-width:100%;height:auto}
"""


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder, then a rename.

    A reader never sees a half-written report, and a failure leaves the old file in place.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be shared
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def figure_to_svg(fig: Figure) -> str:
    """Serialise a matplotlib Figure to an inline ``<svg>`` string (no external references)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


@dataclass
class HtmlReport:
    """Accumulates sections and writes one self-contained HTML file."""

    title: str
    subtitle: str = ""
    _body: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self._body.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, *, css_class: str = "") -> None:
        cls = f' class="{html.escape(css_class)}"' if css_class else ""
        self._body.append(f"<p{cls}>{html.escape(text)}</p>")

    def callout(self, text: str) -> None:
        self._body.append(f'<div class="callout">{html.escape(text)}</div>')

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        e = html.escape
        head = "".join(f"<th>{e(str(h))}</th>" for h in headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows
        )
        self._body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def result(self, result: Any) -> None:
        self._body.append(result.summary("html"))

    def figure(self, fig: Figure, caption: str = "") -> None:
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._body.append(f"<figure>{figure_to_svg(fig)}{cap}</figure>")

    def render(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        sub = f"<p>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>{sub}"
            f"<p class='meta'>truelift {truelift.__version__} · generated {stamp}</p>"
            + "".join(self._body)
            + "</body></html>"
        )

    def write(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.render())
