"""Aggregate where the data live: sufficient statistics as narwhals lazy queries.

A reducible estimator (difference in means, CUPED, ratio metrics, DiD cell means, regression via
X'X / X'y, ...) needs only sums, counts and cross-products per group. Its kernel is written over
those statistics, and this layer computes them with one narwhals lazy query on whatever holds the
rows: a DuckDB relation (the embedded default for files), a polars LazyFrame, or a PySpark / Spark
Connect DataFrame. Only the small aggregate table leaves the engine; the result records which
engine ran and what left it (``params["engine"]``, ``details["transferred"]``).

Column names reach the engine only as narwhals column references (quoted identifiers), never as
SQL text.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

__all__ = ["engine_name", "lazy_frame", "with_safe_names"]


def lazy_frame(data: Any) -> Any | None:
    """``data`` as a narwhals LazyFrame if it is a lazy table (DuckDB, polars lazy, Spark), else None."""
    try:
        frame = nw.from_native(data)
    except TypeError:
        return None
    return frame if isinstance(frame, nw.LazyFrame) else None


def engine_name(frame: Any) -> str:
    """The engine behind a narwhals frame, e.g. ``"duckdb"``, ``"polars"``, ``"pyspark"``."""
    impl = frame.implementation
    return str(getattr(impl, "value", impl)).lower()


def with_safe_names(frame: Any) -> tuple[Any, dict[str, str]]:
    """Rename columns positionally to safe identifiers where the engine parses names.

    Spark parses column references (dots, backticks), so a hostile name could break a query;
    there the columns are renamed by position (``toDF``), which parses nothing. Other engines
    take names as quoted identifiers already. Returns the frame and original -> engine names.
    """
    columns = list(frame.collect_schema().names())
    if engine_name(frame).startswith("pyspark") or engine_name(frame) == "sqlframe":
        safe = [f"__c{i}" for i in range(len(columns))]
        native = frame.to_native().toDF(*safe)
        return nw.from_native(native), dict(zip(columns, safe, strict=True))
    return frame, {c: c for c in columns}
