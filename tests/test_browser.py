"""The demo report in a real browser: headless Chromium loads it, logs no errors, draws every plot.

Chromium is Debian's ``chromium`` package, installed by scripts/ensure_chromium.sh (``make test`` runs
it); without a chromium binary these tests skip and say so. The browser is driven over the DevTools
protocol through a pipe (tests/_cdp.py, standard library only). The full-page screenshot is kept at
test-artifacts/demo-report.png whether the checks pass or not, so a failure can be looked at.

The first test runs the checker on a page that is broken on purpose, so a checker that sees nothing
cannot pass the demo.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests._cdp import Browser, find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary on PATH: run scripts/ensure_chromium.sh (make test runs it)",
)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACT = ROOT / "test-artifacts" / "demo-report.png"

# Late console messages or requests (none expected: the report has no scripts) get this long to show.
SETTLE_S = 0.5

# Every element that paints something inside an <svg>; those under <defs>/<clipPath>/... only
# define shapes and are not counted as drawn. Coordinates are document coordinates (CSS px).
_SVG_PROBE = """
(() => {
  const marks = 'path,line,polyline,polygon,rect,circle,ellipse,text,use,image';
  const defs = 'defs,clipPath,mask,symbol,marker,pattern';
  return Array.from(document.querySelectorAll('svg')).map((svg, index) => {
    const r = svg.getBoundingClientRect();
    let drawn = 0, total = 0;
    for (const m of svg.querySelectorAll(marks)) {
      if (m.closest(defs)) continue;
      total++;
      const b = m.getBoundingClientRect();
      if (b.width > 0 || b.height > 0) drawn++;
    }
    const fig = svg.closest('figure');
    const cap = fig && fig.querySelector('figcaption');
    let heading = '';
    for (const el of document.querySelectorAll('h1,h2,h3')) {
      if (el.compareDocumentPosition(svg) & Node.DOCUMENT_POSITION_FOLLOWING) heading = el.textContent;
    }
    return {
      index, heading, caption: cap ? cap.textContent : '',
      x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
      marks: total, drawn,
      visible: getComputedStyle(svg).visibility !== 'hidden' && getComputedStyle(svg).display !== 'none',
    };
  });
})()
"""


@dataclass(frozen=True)
class PageCheck:
    """What the browser saw on one page."""

    errors: list[str]  # console errors, uncaught exceptions, error log entries, failed loads
    warnings: list[str]  # console warnings and warning log entries (reported, not failed on)
    external: list[str]  # requested URLs that are not file: or data:
    svgs: list[dict[str, Any]]
    png: bytes
    page_width: int
    page_height: int


def _console_text(params: dict[str, Any]) -> str:
    parts = []
    for arg in params.get("args", []):
        parts.append(str(arg.get("value", arg.get("description", arg.get("type", "")))))
    return " ".join(parts)


def check_page(url: str) -> PageCheck:
    """Open ``url`` in a fresh headless Chromium, collect what it logged and requested, probe its svgs."""
    assert CHROMIUM is not None
    with Browser(CHROMIUM) as browser:
        page = browser.new_page()
        page.navigate(url)
        page.settle(SETTLE_S)
        svgs = page.evaluate(_SVG_PROBE)
        size = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        png = page.screenshot_full_page()
        events = list(page.events)

    errors: list[str] = []
    warnings: list[str] = []
    external: list[str] = []
    for ev in events:
        method, p = ev["method"], ev.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = f"console.{p.get('type')}: {_console_text(p)}"
            if p.get("type") in ("error", "assert"):
                errors.append(text)
            elif p.get("type") == "warning":
                warnings.append(text)
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            desc = d.get("exception", {}).get("description") or d.get("text", "")
            errors.append(f"uncaught exception: {desc}")
        elif method == "Log.entryAdded":
            entry = p.get("entry", {})
            text = f"log {entry.get('source')}/{entry.get('level')}: {entry.get('text')} {entry.get('url', '')}"
            if entry.get("level") == "error":
                errors.append(text.strip())
            elif entry.get("level") == "warning":
                warnings.append(text.strip())
        elif method == "Network.requestWillBeSent":
            req_url = p.get("request", {}).get("url", "")
            if not req_url.startswith(("file:", "data:")):
                external.append(req_url)
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            errors.append(f"load failed: {p.get('errorText')} (request {p.get('requestId')})")
    return PageCheck(errors, warnings, external, svgs, png, int(size[0]), int(size[1]))


def _open_png(data: bytes) -> Image.Image:
    """Decode our own screenshot; a long report exceeds Pillow's decompression-bomb guard."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return img


def _ink_fraction(img: Image.Image) -> float:
    """Share of pixels that differ from the most common colour (0 for a blank region)."""
    gray = img.convert("L")
    hist = gray.histogram()
    total = sum(hist)
    return 0.0 if total == 0 else 1.0 - max(hist) / total


def _svg_region(png: Image.Image, svg: dict[str, Any]) -> Image.Image:
    x0, y0 = int(svg["x"]), int(svg["y"])
    x1, y1 = int(svg["x"] + svg["width"]), int(svg["y"] + svg["height"])
    return png.crop((max(x0, 0), max(y0, 0), min(x1, png.width), min(y1, png.height)))


def _label(svg: dict[str, Any]) -> str:
    return f"svg #{svg['index']} under {svg['heading']!r} ({svg['caption'][:60]!r})"


def svg_problems(check: PageCheck) -> list[str]:
    """Plots that did not draw: zero size, hidden, no drawn marks, or a blank region on screen."""
    png = _open_png(check.png)
    out = []
    for svg in check.svgs:
        if not svg["visible"]:
            out.append(f"{_label(svg)} is hidden")
        if svg["width"] < 1 or svg["height"] < 1:
            out.append(f"{_label(svg)} has an empty box {svg['width']}x{svg['height']}")
            continue
        if svg["drawn"] == 0:
            out.append(f"{_label(svg)} has {svg['marks']} marks, none with a non-empty box")
        if svg["visible"] and _ink_fraction(_svg_region(png, svg)) < MIN_SVG_INK:
            out.append(f"{_label(svg)} is blank on screen")
    return out


# A blank region has ink fraction exactly 0 (one colour). Measured on the demo report in Chromium 156
# (31 plots): the least-inked plot covers 5.3 % of its box with axes, tick labels and marks, the
# median ~9 %. 0.5 % is ten times below that, so a sparse but drawn plot passes; a blank one cannot.
MIN_SVG_INK = 0.005


# -- the checker fails on a broken page ---------------------------------------------------------

_BROKEN = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head><body>
<h2>broken on purpose</h2>
<figure><svg width="300" height="200" xmlns="http://www.w3.org/2000/svg"></svg>
<figcaption>empty</figcaption></figure>
<figure><svg width="300" height="200" style="display:none" xmlns="http://www.w3.org/2000/svg">
<rect width="300" height="200" fill="black"/></svg><figcaption>hidden</figcaption></figure>
<figure><svg width="300" height="200" xmlns="http://www.w3.org/2000/svg">
<rect x="10" y="10" width="100" height="50" fill="#1f5fa8"/></svg><figcaption>drawn</figcaption></figure>
<img src="http://192.0.2.1/pixel.png" alt="">
<script>console.error("broken on purpose"); throw new Error("thrown on purpose");</script>
</body></html>"""


def test_checker_catches_a_broken_page(tmp_path: Path) -> None:
    path = tmp_path / "broken.html"
    path.write_text(_BROKEN, encoding="utf-8")
    check = check_page(path.as_uri())
    assert any("broken on purpose" in e for e in check.errors), check.errors
    assert any("thrown on purpose" in e for e in check.errors), check.errors
    assert check.external == ["http://192.0.2.1/pixel.png"]
    problems = svg_problems(check)
    assert any("#0" in p and "none with a non-empty box" in p for p in problems), problems
    assert any("#1" in p and "hidden" in p for p in problems), problems
    assert not any("#2" in p for p in problems), problems  # the drawn one passes
    assert len(check.svgs) == 3


# -- the demo report ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_html(demo_report: Path) -> Path:
    """The demo report the CLI wrote (shared with the CLI test: built once per run)."""
    return demo_report / "index.html"


@pytest.fixture(scope="module")
def demo(demo_html: Path) -> PageCheck:
    check = check_page(demo_html.as_uri())
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_bytes(check.png)  # kept before any assertion, for looking at failures
    return check


def test_demo_has_no_console_errors(demo: PageCheck) -> None:
    assert demo.errors == [], "\n".join(demo.errors)


def test_demo_makes_no_external_requests(demo: PageCheck) -> None:
    assert demo.external == [], demo.external


def test_demo_draws_every_plot(demo: PageCheck, demo_html: Path) -> None:
    # Every <svg> in the file reached the DOM (none lost to a parse error) ...
    in_file = len(re.findall(r"<svg[\s>]", demo_html.read_text(encoding="utf-8")))
    assert in_file > 0, "the demo report has no plots"
    assert len(demo.svgs) == in_file
    # ... and each one has a box, drawn marks and ink on screen.
    problems = svg_problems(demo)
    assert problems == [], "\n".join(problems)


def test_demo_screenshot_is_the_whole_page_and_not_blank(demo: PageCheck) -> None:
    png = _open_png(demo.png)
    assert (png.width, png.height) == (demo.page_width, demo.page_height)
    assert ARTIFACT.read_bytes() == demo.png
    # A blank page is one colour (ink 0); text, tables and plots ink a few percent of it.
    assert _ink_fraction(png) > MIN_SVG_INK
