"""Every ```python block in README.md and docs/**/*.md runs as written (docs that cannot rot).

Blocks in one file run in order in one namespace, so a page may build on its earlier blocks.
A block fenced as ```python no-run is shown but not executed (e.g. it needs a warehouse).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _blocks(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for i, code in enumerate(_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"{page.name}, python block {i} failed: {exc!r}") from exc


def test_every_design_page_has_a_worked_example() -> None:
    pages = sorted((ROOT / "docs" / "designs").glob("*.md"))
    missing = [p.name for p in pages if "## Worked example" not in p.read_text(encoding="utf-8")]
    assert not missing, f"design pages without a '## Worked example' section: {missing}"
