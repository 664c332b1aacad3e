"""Run every benchmark module in this package (``python -m benchmarks``)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path


def main() -> None:
    here = Path(__file__).parent
    for mod in pkgutil.iter_modules([str(here)]):
        if mod.name.startswith("bench_"):
            module = importlib.import_module(f"benchmarks.{mod.name}")
            print(f"== {mod.name}")
            module.main()


if __name__ == "__main__":
    main()
