"""Text, Markdown and HTML rendering of results (used by ``summary()``).

Every user-supplied string (column names, labels, messages) is HTML-escaped in the HTML output.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from truelift.result import Diagnostic, Estimate

_STATUS_TEXT = {
    "ok": "",
    "downgraded": "DOWNGRADED: a diagnostic failed; read the estimate with the caveats below.",
    "withheld": "WITHHELD: a diagnostic failed that invalidates this design; no headline number.",
}


def fmt(x: Any, digits: int = 4) -> str:
    """Format a number compactly; ``None``/NaN as an em dash."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(xf):
        return "—"
    if xf != 0 and (abs(xf) < 10 ** (-digits) or abs(xf) >= 1e6):
        return f"{xf:.{digits - 1}e}"
    return f"{xf:.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    return "< 1e-4" if p < 1e-4 else f"{p:.4f}"


def _estimate_rows(e: Estimate) -> list[tuple[str, str]]:
    level = f"{100 * e.conf_level:g}% CI"
    headline = fmt(e.estimate) if e.status != "withheld" else f"withheld ({fmt(e.estimate)})"
    rows = [
        ("estimate", headline),
        ("std. error", fmt(e.std_error)),
        (level, f"[{fmt(e.ci_low)}, {fmt(e.ci_high)}]"),
        ("p-value", _fmt_p(e.p_value)),
        ("estimand", e.estimand),
        ("method", e.method),
        ("n (used / dropped)", f"{e.n_obs:,} / {e.n_dropped:,}"),
    ]
    if e.inference:
        rows.append(("inference", e.inference))
    return rows


def _diag_rows(diags: tuple[Diagnostic, ...]) -> list[tuple[str, str, str, str, str]]:
    return [(d.name, d.verdict.upper(), fmt(d.value), d.threshold, d.message) for d in diags]


def _text_table(headers: list[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    widths = [min(w, 60) for w in widths]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _md_table(headers: list[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _html_table(headers: list[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{e(c.lower())}">{e(c)}</td>' for c in r) + "</tr>"
        for r in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _blocks(
    title: str,
    status: str,
    kv: Sequence[tuple[str, str]],
    diags: tuple[Diagnostic, ...],
    warnings: tuple[str, ...],
    fmt_name: str,
) -> str:
    dh = ["diagnostic", "verdict", "value", "threshold", "message"]
    drows = _diag_rows(diags)
    note = _STATUS_TEXT[status]
    if fmt_name == "text":
        parts = [title, "=" * len(title)]
        if note:
            parts.append(note)
        width = max(len(k) for k, _ in kv) if kv else 0
        parts += [f"{k.ljust(width)}  {v}" for k, v in kv]
        if drows:
            parts += ["", _text_table(dh, drows)]
        parts += [f"warning: {w}" for w in warnings]
        return "\n".join(parts)
    if fmt_name == "markdown":
        parts = [f"### {title}"]
        if note:
            parts.append(f"> **{note}**")
        parts.append(_md_table(["", ""], kv))
        if drows:
            parts += ["", _md_table(dh, drows)]
        parts += [f"- warning: {w}" for w in warnings]
        return "\n\n".join(parts)
    e = html.escape
    parts = [f'<div class="truelift-result status-{status}"><h3>{e(title)}</h3>']
    if note:
        parts.append(f'<p class="status-note"><strong>{e(note)}</strong></p>')
    parts.append(_html_table(["", ""], kv, "estimate"))
    if drows:
        parts.append(_html_table(dh, drows, "diagnostics"))
    if warnings:
        parts.append(
            "<ul class='warnings'>" + "".join(f"<li>{e(w)}</li>" for w in warnings) + "</ul>"
        )
    parts.append("</div>")
    return "".join(parts)


def render(result: Any, format: str) -> str:
    from truelift.result import Estimate

    if isinstance(result, Estimate):
        return _blocks(
            result.method,
            result.status,
            _estimate_rows(result),
            result.diagnostics,
            result.warnings,
            format,
        )
    headers = ["label", "estimate", "std. error", "CI low", "CI high", "p-value", "n", "status"]
    rows = [
        (
            k,
            fmt(v.estimate),
            fmt(v.std_error),
            fmt(v.ci_low),
            fmt(v.ci_high),
            _fmt_p(v.p_value),
            f"{v.n_obs:,}",
            v.status,
        )
        for k, v in result.estimates
    ]
    kv = [("method", result.method)]
    if result.headline is not None:
        kv.append(("headline", result.headline))
    head = _blocks(result.title, result.status, kv, result.diagnostics, result.warnings, format)
    table = {"text": _text_table, "markdown": _md_table}.get(format)
    if table is not None:
        return head + "\n\n" + table(headers, rows)
    return head + _html_table(headers, rows, "estimates")
