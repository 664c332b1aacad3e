"""The contract every public estimator keeps.

A design joins by adding ``tests/contract/case_<design>.py`` with a module-level ``CASES`` list of
:class:`ContractCase`; ``tests/test_contract.py`` discovers every such module and runs each check
on each case. Keep the data small (a few thousand rows) so the whole suite stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ContractCase:
    """One estimator call to hold to the contract.

    Attributes:
        name: test id.
        func: the public estimator, called as ``func(data, **kwargs)``.
        data: factory of a small, seeded pandas frame.
        kwargs: the call's keyword arguments (column names included).
        outcome: a numeric column the checks corrupt (NaN, inf, strings, constant).
        treatment: a binary column the checks corrupt (one arm only, non-binary), or ``None``.
        skip: check name -> reason, for checks that do not apply to this estimator.
        rel_tol: relative tolerance when comparing pandas / polars / pyarrow answers.
    """

    name: str
    func: Callable[..., Any]
    data: Callable[[], pd.DataFrame]
    kwargs: dict[str, Any]
    outcome: str | None = None
    treatment: str | None = None
    skip: dict[str, str] = field(default_factory=dict)
    rel_tol: float = 1e-9

    def column_args(self, frame: pd.DataFrame) -> dict[str, Any]:
        """The kwargs that name columns of ``frame`` (str or list of str)."""
        cols = set(frame.columns)
        out: dict[str, Any] = {}
        for key, value in self.kwargs.items():
            if isinstance(value, str) and value in cols:
                out[key] = value
            elif (
                isinstance(value, (list, tuple))
                and value
                and all(isinstance(v, str) and v in cols for v in value)
            ):
                out[key] = list(value)
        return out


def all_cases() -> list[ContractCase]:
    cases: list[ContractCase] = []
    for path in sorted(Path(__file__).parent.glob("case_*.py")):
        module = importlib.import_module(f"tests.contract.{path.stem}")
        cases.extend(module.CASES)
    return cases
