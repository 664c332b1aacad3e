"""Rows for the uplift learners: collected from lazy tables, sampled only when asked.

Gradient-boosted meta-learners need rows in memory; they cannot be fed sums from a warehouse.
So when an uplift entry point receives a lazy table (a DuckDB relation, a polars LazyFrame, a
PySpark / Spark Connect DataFrame), it selects *only the columns it needs* inside the engine,
collects those rows, and records that it did (engine, rows, columns) in the result. Rows are never
dropped silently: ``sample=`` (a fraction in (0, 1) or a row count, drawn with ``rng``) is the only
way to use fewer rows than the table holds; it is a simple random sample without replacement,
drawn in memory after the needed columns were collected, and the result says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import narwhals.stable.v1 as nw
import numpy as np

from truelift import _frame
from truelift.engines import collect_columns, engine_name, lazy_frame
from truelift.errors import ColumnNotFoundError, DesignError

__all__ = ["Sample", "engine_label", "gather", "record_text", "with_record"]

Sample = float | int | None


def _check_sample(sample: Sample) -> None:
    if sample is None:
        return
    if isinstance(sample, bool) or not isinstance(sample, (int, float, np.integer, np.floating)):
        raise DesignError(
            f"sample must be None, a fraction in (0, 1) or a row count >= 1; got {sample!r}."
        )
    if isinstance(sample, (float, np.floating)) and not 0 < sample < 1:
        raise DesignError(
            f"sample as a fraction must lie strictly between 0 and 1; got {sample!r}. "
            "Pass an integer for a row count."
        )
    if isinstance(sample, (int, np.integer)) and sample < 1:
        raise DesignError(f"sample as a row count must be at least 1; got {sample!r}.")


def _collect(lf: Any, needed: list[str]) -> Any:
    schema = list(lf.collect_schema().names())
    for name in needed:
        if name not in schema:
            close = _frame.closest_columns(name, schema)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ColumnNotFoundError(f"Column {name!r} not found.{hint}")
    return collect_columns(lf, needed)  # positional names: a column called '*' is one column


def gather(
    data: Any,
    columns: Sequence[str | None],
    *,
    sample: Sample,
    rng: np.random.Generator,
) -> tuple[Any, dict[str, Any]]:
    """The data to load (an eager table) and the record of what was collected and sampled.

    ``rng`` is consumed only when ``sample`` is given, so results without sampling do not depend
    on whether the data arrived as a lazy or an eager table.
    """
    _check_sample(sample)
    needed = list(dict.fromkeys(c for c in columns if c is not None))
    lf = lazy_frame(data)
    record: dict[str, Any]
    if lf is None:
        table = data
        n_rows = len(_frame.to_frame(data))
        record = {"engine": "in-memory", "rows_collected": None, "columns": needed}
    else:
        table = _collect(lf, needed)
        n_rows = len(_frame.to_frame(table))
        record = {
            "engine": engine_name(lf),
            "rows_collected": n_rows,
            "columns": needed,
            "why": "gradient-boosted learners need rows in memory: the needed columns were "
            "selected in the engine and their rows collected",
        }
    record["rows_in_data"] = n_rows
    record["sample"] = None
    if sample is None:
        return table, record
    k = round(float(sample) * n_rows) if isinstance(sample, (float, np.floating)) else sample
    k = int(min(max(k, 1), n_rows))
    keep = np.zeros(n_rows, dtype=bool)
    keep[rng.choice(n_rows, size=k, replace=False)] = True
    df = _frame.to_frame(table)
    df = df.filter(nw.new_series("__keep__", keep, nw.Boolean, backend=nw.get_native_namespace(df)))
    record["sample"] = {
        "requested": sample,
        "rows": k,
        "of": n_rows,
        "how": "simple random sample without replacement (rng), drawn in memory",
    }
    return nw.to_native(df), record


def record_text(record: dict[str, Any]) -> str | None:
    """One sentence for the result's warnings when rows were collected or sampled, else None."""
    parts = []
    if record.get("rows_collected") is not None:
        parts.append(
            f"Rows collected from the {record['engine']} table: {record['rows_collected']:,} rows "
            f"x {len(record['columns'])} columns ({', '.join(record['columns'])}); gradient-boosted "
            "uplift learners need rows in memory."
        )
    s = record.get("sample")
    if s is not None:
        parts.append(
            f"Estimated on a random sample of {s['rows']:,} of {s['of']:,} rows "
            f"(sample={s['requested']!r}); standard errors reflect the sample size."
        )
    return " ".join(parts) or None


def engine_label(record: dict[str, Any]) -> str:
    """``params["engine"]``: the engine, and whether rows left it."""
    if record.get("rows_collected") is None:
        return "in-memory"
    return f"{record['engine']} (rows collected: {record['rows_collected']:,})"


def with_record(result: Any, record: dict[str, Any]) -> Any:
    """``result`` (an EstimateSet) with ``details["collected"]`` and the collection warning."""
    details = {**dict(result.details), "collected": record}
    if record.get("rows_collected") is not None:
        details["transferred"] = (
            f"{record['rows_collected']:,} rows x {len(record['columns'])} columns "
            "(gradient-boosted learners need rows)"
        )
    text = record_text(record)
    warnings = tuple(result.warnings) + ((text,) if text else ())
    return dataclasses.replace(result, details=details, warnings=warnings)
