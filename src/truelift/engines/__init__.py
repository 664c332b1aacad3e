"""Aggregate where the data live: sufficient statistics as narwhals lazy queries.

A reducible estimator (difference in means, CUPED, ratio metrics, DiD cell means, regression via
X'X / X'y, ...) needs only sums, counts and cross-products per group. Its kernel is written over
those statistics, and this layer computes them with one narwhals lazy query on whatever holds the
rows: a DuckDB relation (the embedded default for files), a polars LazyFrame, or a PySpark / Spark
Connect DataFrame. Only the small aggregate table leaves the engine; the result records which
engine ran and what left it (``params["engine"]``, ``details["transferred"]``).

Column names never reach the engine as text that it parses. :func:`with_safe_names` renames the
columns by position to generated identifiers (``__c0``, ``__c1``, ...) before any expression is
built: ``toDF`` on Spark, a column-alias list on DuckDB (the only SQL text is the generated
names), ``rename`` on polars. A name such as ``a"; DROP TABLE x; --``, ``*``, ``a.b`` or a regex
like ``^x.*$`` (which polars and DuckDB would otherwise expand) is therefore just a label.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

__all__ = [
    "LAZY_ENGINES",
    "collect_columns",
    "engine_name",
    "lazy_frame",
    "native_engine",
    "with_safe_names",
]

#: engine labels recorded in ``params["engine"]`` for lazy tables
LAZY_ENGINES = ("duckdb", "polars", "pyspark", "spark-connect", "sqlframe")

# (module prefix, class name, engine label): decided without importing any engine, so a Spark
# Connect DataFrame is recognised even where the Connect client cannot be imported. The Connect
# prefix comes before the classic one ("pyspark.sql.classic.dataframe" in Spark 4).
_NATIVE = (
    ("duckdb", "DuckDBPyRelation", "duckdb"),
    ("polars", "LazyFrame", "polars"),
    ("pyspark.sql.connect", "DataFrame", "spark-connect"),
    ("pyspark.sql", "DataFrame", "pyspark"),
    ("sqlframe", "", "sqlframe"),
)


def native_engine(data: Any) -> str | None:
    """The engine label of a lazy table (``"duckdb"``, ``"polars"``, ``"pyspark"``,
    ``"spark-connect"``, ``"sqlframe"``), or None for anything else (eager frames, arrays).

    Decided from the type's module and name alone: nothing is imported or executed.
    """
    if isinstance(data, nw.LazyFrame):
        return engine_name(data)
    for cls in type(data).__mro__:
        module = cls.__module__ or ""
        for prefix, name, label in _NATIVE:
            in_module = module == prefix or module.startswith(prefix + ".")
            if in_module and (not name or cls.__name__ == name):
                return label
    return None


def lazy_frame(data: Any) -> Any | None:
    """``data`` as a narwhals LazyFrame if it is a lazy table (DuckDB, polars lazy, Spark), else None."""
    try:
        frame = nw.from_native(data)
    except TypeError:
        return None
    return frame if isinstance(frame, nw.LazyFrame) else None


def engine_name(frame: Any) -> str:
    """The engine behind a narwhals frame: ``"duckdb"``, ``"polars"``, ``"pyspark"``,
    ``"spark-connect"``, ..."""
    impl = frame.implementation
    name = str(getattr(impl, "value", impl)).lower()
    return "spark-connect" if name == "pyspark[connect]" else name


def with_safe_names(frame: Any) -> tuple[Any, dict[str, str]]:
    """Rename the columns of a lazy narwhals frame by position to ``__c0, __c1, ...``.

    Returns the renamed frame and the map original name -> engine name. The renaming parses no
    column name: Spark gets ``toDF(*names)``, DuckDB a column-alias list made only of the
    generated names, polars ``rename`` (exact names, no wildcard or regex expansion).
    """
    columns = list(frame.collect_schema().names())
    safe = [f"__c{i}" for i in range(len(columns))]
    mapping = dict(zip(columns, safe, strict=True))
    engine = engine_name(frame)
    native = frame.to_native()
    if engine in ("pyspark", "spark-connect", "sqlframe"):
        renamed = native.toDF(*safe)
    elif engine == "duckdb":
        alias = "__truelift_src"
        renamed = native.query(alias, f"SELECT * FROM {alias} AS {alias}({', '.join(safe)})")
    elif engine == "polars":
        renamed = native.rename(mapping)
    else:  # other narwhals lazy backends (dask, ibis): narwhals' own rename
        return frame.rename(mapping), mapping
    return nw.from_native(renamed), mapping


def collect_columns(frame: Any, columns: list[str]) -> Any:
    """Collect only ``columns`` of a lazy narwhals frame, as an eager native table.

    For estimators that truly need rows (gradient-boosted uplift learners, matching): the
    selection runs on the positionally renamed frame, so a column named ``*`` or ``^x.*$`` is
    one column, not a wildcard; the eager result carries the original names again.
    """
    safe, mapping = with_safe_names(frame)
    out = safe.select(*[nw.col(mapping[c]) for c in columns]).collect()
    return out.rename({mapping[c]: c for c in columns}).to_native()
