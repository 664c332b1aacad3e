"""Reading and writing tables by file extension (CSV, Parquet) through DuckDB, the embedded engine."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from truelift.errors import DataError

__all__ = ["read_table", "write_table"]

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"cannot tell the format of {str(path)!r} from its extension; use .csv or .parquet."
        )
    return fmt


def write_table(data: pd.DataFrame, path: str | Path) -> Path:
    """Write a pandas frame to CSV or Parquet (chosen by extension)."""
    out = Path(path)
    fmt = _format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        data.to_csv(out, index=False)
    else:
        con = duckdb.connect()
        try:
            con.register("frame", data)
            con.execute(f"COPY frame TO '{_quote_path(out)}' (FORMAT parquet)")
        finally:
            con.close()
    return out


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a pandas frame (DuckDB reads it)."""
    src = Path(path)
    if not src.exists():
        raise DataError(f"file {str(src)!r} does not exist.")
    fmt = _format(src)
    con = duckdb.connect()
    try:
        reader = "read_csv_auto" if fmt == "csv" else "read_parquet"
        return con.execute(f"SELECT * FROM {reader}('{_quote_path(src)}')").df()
    finally:
        con.close()


def _quote_path(path: Path) -> str:
    return str(path).replace("'", "''")
