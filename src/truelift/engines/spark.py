"""A Spark session for the engine layer: local mode, an active session, or Spark Connect.

``spark_session(remote=...)`` (or the ``SPARK_REMOTE`` environment variable, Spark's own
convention) connects to a Spark Connect server (``sc://host:15002``; ``"local"`` starts a
local Connect server, Spark >= 3.5). Without a remote address it reuses the active classic
session, or starts ``local[*]``. PySpark is an optional extra: ``pip install truelift[spark]``;
Spark Connect also needs the client packages of ``pyspark[connect]`` (grpcio, grpcio-status,
googleapis-common-protos, zstandard).
"""

from __future__ import annotations

import os
from typing import Any

from truelift.errors import DataError

__all__ = ["CONNECT_CLIENT_PACKAGES", "connect_client_missing", "spark_session"]

#: importable modules of the Spark Connect client and the distributions that provide them
CONNECT_CLIENT_PACKAGES = {
    "grpc": "grpcio",
    "grpc_status": "grpcio-status",
    "google.rpc": "googleapis-common-protos",
    "zstandard": "zstandard",
}


def connect_client_missing() -> list[str]:
    """Distributions of the Spark Connect client that cannot be imported here (empty: all present)."""
    from importlib.util import find_spec

    missing = []
    for module, dist in CONNECT_CLIENT_PACKAGES.items():
        try:
            found = find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package (e.g. google) is absent
            found = False
        if not found:
            missing.append(dist)
    return missing


def spark_session(remote: str | None = None, *, master: str = "local[*]") -> Any:
    """A SparkSession: Spark Connect at ``remote`` (or ``$SPARK_REMOTE``), else local mode."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise DataError(
            "engine='spark' needs PySpark, which is not installed. Install it with "
            "`pip install truelift[spark]` (and Java 17), or use engine='duckdb'."
        ) from exc
    url = remote or os.environ.get("SPARK_REMOTE")
    if url:
        missing = connect_client_missing()
        if missing:
            raise DataError(
                f"Spark Connect ({url!r}) needs the client packages {', '.join(missing)}, which "
                "are not installed. Install them with `pip install 'pyspark[connect]'`, or drop "
                "the remote address (and unset SPARK_REMOTE) to use Spark in local mode."
            )
        return SparkSession.builder.remote(url).getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return (
        SparkSession.builder.master(master)
        .appName("truelift")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
