"""Reading and writing tables (CSV, Parquet): lazily through DuckDB or Spark, or into memory.

``read_table(path)`` returns a DuckDB relation over the file: nothing is read until an estimator
aggregates it, and estimators with an engine path compute their sufficient statistics inside
DuckDB (see :mod:`truelift.engines`). ``engine="spark"`` returns a Spark DataFrame (local mode,
or Spark Connect with ``spark_remote=`` / ``$SPARK_REMOTE``); ``engine="memory"`` returns a pandas
frame, for callers that need the rows. File paths reach DuckDB and Spark as arguments of their
readers, never spliced into SQL text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd

from truelift.errors import DataError, DesignError

__all__ = ["Engine", "read_table", "write_table"]

Engine = Literal["duckdb", "spark", "memory"]
_ENGINES = ("duckdb", "spark", "memory")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def _format(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("csv", "parquet"):
            raise DesignError(f"format must be 'csv' or 'parquet'; got {fmt!r}.")
        return fmt
    suffix = Path(path.rstrip("/")).suffix.lower()
    found = _FORMATS.get(suffix)
    if found is None:
        raise DataError(
            f"cannot tell the format of {path!r} from its extension; use .csv or .parquet, "
            "or pass format='csv' / format='parquet'."
        )
    return found


def write_table(data: pd.DataFrame, path: str | Path) -> Path:
    """Write a pandas frame to CSV or Parquet (chosen by extension)."""
    out = Path(path)
    fmt = _format(str(out), None)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        data.to_csv(out, index=False)
    else:
        con = duckdb.connect()
        try:
            con.from_df(data).write_parquet(str(out))
        finally:
            con.close()
    return out


def read_table(
    path: str | Path,
    engine: Engine = "duckdb",
    *,
    format: Literal["csv", "parquet"] | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    spark: Any = None,
    spark_remote: str | None = None,
) -> Any:
    """Open a CSV or Parquet file (or glob, or URL the engine can read) as a table.

    Args:
        path: a file, a glob such as ``logs/*.parquet``, a Spark Parquet directory, or a URL
            (``s3://...``) that the engine can read.
        engine: ``"duckdb"`` (default): a lazy DuckDB relation; ``"spark"``: a Spark DataFrame;
            ``"memory"``: a pandas DataFrame (every row read now).
        format: ``"csv"`` or ``"parquet"``; default from the extension.
        connection: the DuckDB connection to read with (default: a new in-memory one).
        spark: the SparkSession to read with (default: :func:`truelift.engines.spark.spark_session`).
        spark_remote: a Spark Connect address such as ``sc://host:15002`` (default:
            ``$SPARK_REMOTE``; without either, Spark runs in local mode).
    """
    if engine not in _ENGINES:
        raise DesignError(
            f"engine must be one of {', '.join(map(repr, _ENGINES))}; got {engine!r}."
        )
    src = str(path)
    fmt = _format(src, format)
    local = not _URL.match(src) and not any(ch in src for ch in "*?[")
    remote_spark = engine == "spark" and (spark_remote is not None or spark is not None)
    if local and not remote_spark and not Path(src).exists():
        raise DataError(f"file {src!r} does not exist.")
    if engine == "spark":
        return _read_spark(src, fmt, spark, spark_remote)
    con = connection if connection is not None else duckdb.connect()
    rel = con.read_csv(src) if fmt == "csv" else con.read_parquet(src)
    if engine == "memory":
        return rel.df()
    return rel


def _read_spark(src: str, fmt: str, spark: Any, remote: str | None) -> Any:
    from truelift.engines.spark import spark_session

    session = spark if spark is not None else spark_session(remote)
    if fmt == "csv":
        return session.read.csv(src, header=True, inferSchema=True)
    return session.read.parquet(src)
