"""Scale study: a 100M-row Parquet file analysed through the engine paths, with peak memory.

Run on demand (not in tests, not in ``python -m benchmarks``)::

    python -m benchmarks.scale_study generate [--rows 100000000] [--path FILE]
    python -m benchmarks.scale_study analyse [--path FILE] [--engines duckdb,spark]
        [--analyses ab,did,ipw] [--wait-minutes 0] [--out results.json]

**The file.** Written in chunks (``--chunk`` rows at a time, never the whole table in memory) by
the simulator: each chunk places three scenarios side by side, row for row, so that one file
serves the three analyses: the ``rollout`` user-week panel (a user's 10 weekly rows; columns
``user_id, workspace_id, week, cohort, treated, tasks``), the ``experiment`` scenario
(``variant, pre_active_minutes, active_minutes``) and the ``optin`` scenario (``agent_mode``,
tier and plan dummies, ``log_tenure, prior_tasks, task_completed``). Chunk ``c`` uses seed
``seed * 1000 + c`` in each scenario; users and workspaces are numbered uniquely across chunks
(the rollout draws 100 workspaces per chunk).

**The analyses** (each in a fresh child process, so its peak RSS is its own):

* ``ab``: ``ab_test(outcome="active_minutes", variant="variant",
  covariates=["pre_active_minutes"], adjustment="cuped")`` (truth: +1.0 minute);
* ``did``: ``twfe(outcome="tasks", unit="user_id", time="week", treatment="treated",
  cluster="workspace_id")`` (TWFE is biased in this scenario by design: effects grow with
  exposure; the study is about time and memory);
* ``ipw``: ``ipw(treatment="agent_mode", outcome="task_completed", covariates=[...6...])`` with
  influence-function SEs (truth: ATE +0.058).

Peak memory: the child's own ``getrusage`` peak RSS; for Spark also the JVM's peak (``VmHWM``
of the driver JVM, read before it stops); and the peak of the whole process tree sampled every
0.2 s by the parent, which also stops a child whose tree passes ``--kill-gb`` (default 8 GB)
so that a path that collects rows cannot exhaust the machine. The bar is 4 GB.

An estimator that rejects a lazy table (no engine path yet) is reported as such; with
``--wait-minutes`` the parent retries those analyses every two minutes until the deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/tmp/truelift_scale/user_week_100m.parquet"
BYTES_PER_ROW = 90  # a conservative bound: the 100M-row file measured 16.4 bytes per row (snappy)
NO_ENGINE = "must be a pandas, polars or pyarrow table"
BAR_GB = 4.0

COVARIATES = [
    "tier_medium",
    "tier_heavy",
    "plan_pro",
    "plan_enterprise",
    "log_tenure",
    "prior_tasks",
]
ANALYSES: dict[str, tuple[str, str, dict[str, Any], float | None]] = {
    # name: (module, function, keyword arguments, truth)
    "ab": (
        "truelift.experiment",
        "ab_test",
        {
            "outcome": "active_minutes",
            "variant": "variant",
            "covariates": ["pre_active_minutes"],
            "adjustment": "cuped",
        },
        1.0,
    ),
    "did": (
        "truelift.did",
        "twfe",
        {
            "outcome": "tasks",
            "unit": "user_id",
            "time": "week",
            "treatment": "treated",
            "cluster": "workspace_id",
        },
        None,
    ),
    "ipw": (
        "truelift.propensity",
        "ipw",
        {"treatment": "agent_mode", "outcome": "task_completed", "covariates": COVARIATES},
        0.058,
    ),
}


# --------------------------------------------------------------------------------- generation


def _chunk(c: int, rows: int, seed: int) -> Any:
    import numpy as np
    import pyarrow as pa

    from truelift.simulate import simulate

    users = rows // 10
    s = seed * 1000 + c
    ro = simulate("rollout", n_users=users, seed=s).data
    ex = simulate("experiment", n_users=rows, seed=s).data
    op = simulate("optin", n_users=rows, seed=s).data
    tier, plan = op["engagement_tier"].astype(str), op["plan"].astype(str)
    i8 = np.int8
    return pa.table(
        {
            "user_id": ro["user_id"].to_numpy() + c * users,
            "workspace_id": (ro["workspace_id"].to_numpy() + c * 100).astype(np.int32),
            "week": ro["week"].to_numpy().astype(i8),
            "cohort": ro["cohort"].to_numpy().astype(i8),
            "treated": ro["treated"].to_numpy().astype(i8),
            "tasks": ro["tasks"].to_numpy(),
            "variant": ex["variant"].to_numpy().astype(i8),
            "pre_active_minutes": ex["pre_active_minutes"].to_numpy(),
            "active_minutes": ex["active_minutes"].to_numpy(),
            "agent_mode": op["agent_mode"].to_numpy().astype(i8),
            "tier_medium": (tier == "medium").to_numpy().astype(i8),
            "tier_heavy": (tier == "heavy").to_numpy().astype(i8),
            "plan_pro": (plan == "pro").to_numpy().astype(i8),
            "plan_enterprise": (plan == "enterprise").to_numpy().astype(i8),
            "log_tenure": op["log_tenure"].to_numpy(),
            "prior_tasks": op["prior_tasks"].to_numpy().astype(np.int16),
            "task_completed": op["task_completed"].to_numpy().astype(i8),
        }
    )


def generate(path: Path, rows: int, chunk: int, seed: int) -> None:
    import pyarrow.parquet as pq

    if rows % chunk or chunk % 10:
        raise SystemExit("--rows must be a multiple of --chunk, and --chunk a multiple of 10")
    path.parent.mkdir(parents=True, exist_ok=True)
    need = rows * BYTES_PER_ROW
    free = shutil.disk_usage(path.parent).free
    print(
        f"free disk at {path.parent}: {free / 1e9:.1f} GB; the file needs about {need / 1e9:.1f} GB"
    )
    if free < 2 * need:
        raise SystemExit("not enough free disk (want twice the file size); pass another --path")
    t0 = time.perf_counter()
    tmp = path.with_suffix(".partial")
    writer = None
    for c in range(rows // chunk):
        table = _chunk(c, chunk, seed)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=1 << 20)
        done = (c + 1) * chunk
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {done:>12,} rows  {time.perf_counter() - t0:7.1f} s  peak RSS {peak:,.0f} MB")
    assert writer is not None
    writer.close()
    tmp.replace(path)
    size = path.stat().st_size
    print(f"wrote {path} ({rows:,} rows, {size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s")


# --------------------------------------------------------------------------------- one analysis


def _jvm_peak_mb(spark: Any) -> float | None:
    try:
        pid = spark.sparkContext._gateway.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except Exception:  # the JVM was not started by this process (e.g. Spark Connect)
        return None
    return None


def run_one(analysis: str, engine: str, path: str) -> dict[str, Any]:
    """Open the file lazily with ``engine``, run ``analysis``, return figures (in the child)."""
    import importlib

    from truelift.errors import DataError
    from truelift.io import read_table

    module, fn_name, kwargs, truth = ANALYSES[analysis]
    fn = getattr(importlib.import_module(module), fn_name)
    out: dict[str, Any] = {"analysis": analysis, "engine": engine, "truth": truth}
    spark = None
    if engine == "spark":
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[2]")
            .appName("truelift-scale")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "2g")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
    t0 = time.perf_counter()
    try:
        data = read_table(path, engine=engine, spark=spark)
        res = fn(data, **kwargs)
    except DataError as exc:
        if NO_ENGINE in str(exc):
            out.update(status="no engine path", error=str(exc))
            return out
        raise
    finally:
        out["wall_s"] = time.perf_counter() - t0
        if spark is not None:
            out["jvm_peak_mb"] = _jvm_peak_mb(spark)
    est = res.headline_estimate if hasattr(res, "headline_estimate") else res
    if est is None:
        est = next(iter(res))[1]
    out.update(
        status="ok",
        estimate=est.estimate,
        std_error=est.std_error,
        n_obs=est.n_obs,
        engine_label=est.params.get("engine"),
        transferred=est.details.get("transferred")
        or getattr(res, "details", {}).get("transferred"),
        method=est.method,
    )
    if spark is not None:
        spark.stop()
    return out


def _child_main(analysis: str, engine: str, path: str) -> None:
    try:
        out = run_one(analysis, engine, path)
    except Exception as exc:  # reported by the parent, with its type
        out = {"analysis": analysis, "engine": engine, "status": "error"}
        out["error"] = f"{type(exc).__name__}: {str(exc)[:400]}"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["py_peak_mb"] = usage.ru_maxrss / 1024
    out["cpu_s"] = usage.ru_utime + usage.ru_stime  # this process's CPU (not the JVM's)
    print("RESULT " + json.dumps(out, default=str), flush=True)


# --------------------------------------------------------------------------------- the parent


def _tree_rss_mb(root: int) -> tuple[float, set[int]]:
    """Resident memory of ``root`` and all its descendants (from /proc), in MB, and their pids."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(rss.get(p, 0) for p in tree) / 2**20, tree


def _spawn(analysis: str, engine: str, path: str, kill_gb: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.scale_study", "one", analysis, engine, path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak, killed = 0.0, False
    t0 = time.perf_counter()
    while proc.poll() is None:
        mb, pids = _tree_rss_mb(proc.pid)
        peak = max(peak, mb)
        if peak > kill_gb * 1024:  # stop this child and its own descendants, by pid
            killed = True
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    stdout = proc.communicate()[0]
    wall = time.perf_counter() - t0
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    out: dict[str, Any] = json.loads(lines[-1][7:]) if lines else {"status": "crashed"}
    if killed:
        out = {"status": f"stopped: process tree above {kill_gb:g} GB"}
    out.update(analysis=analysis, engine=engine, tree_peak_mb=peak, process_wall_s=wall)
    return out


def _line(r: dict[str, Any]) -> str:
    head = f"{r['engine']:7s} {r['analysis']:4s}"
    if r.get("status") != "ok":
        return f"{head}  {r.get('status')}: {r.get('error', '')[:200]}"
    peak = max(r["tree_peak_mb"], r.get("py_peak_mb", 0) + (r.get("jvm_peak_mb") or 0))
    mark = "under" if peak < BAR_GB * 1024 else "OVER"
    return (
        f"{head}  {r['wall_s']:8.1f} s (cpu {r.get('cpu_s', float('nan')):7.1f} s)  estimate {r['estimate']:+.5f} (se {r['std_error']:.5f})"
        f"  n {r['n_obs']:,}  peak {peak:,.0f} MB ({mark} the {BAR_GB:g} GB bar; python "
        f"{r['py_peak_mb']:,.0f} MB, jvm {r.get('jvm_peak_mb') or 0:,.0f} MB, tree sampled "
        f"{r['tree_peak_mb']:,.0f} MB)  engine={r.get('engine_label')}  left the engine: "
        f"{r.get('transferred')}"
    )


def analyse(args: argparse.Namespace) -> None:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"scale study on {args.path} at {head.stdout.strip()}")
    todo = [(a, e) for e in args.engines.split(",") for a in args.analyses.split(",")]
    results: dict[tuple[str, str], dict[str, Any]] = {}
    deadline = time.time() + 60 * args.wait_minutes
    while todo:
        waiting = []
        for analysis, engine in todo:
            r = _spawn(analysis, engine, args.path, args.kill_gb)
            r["head"] = head.stdout.strip()
            results[analysis, engine] = r
            print(_line(r), flush=True)
            if r.get("status") == "no engine path":
                waiting.append((analysis, engine))
        todo = waiting
        if todo and time.time() < deadline:
            time.sleep(120)
            head = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            )
        else:
            break
    if args.out:
        Path(args.out).write_text(json.dumps(list(results.values()), indent=1, default=str))
        print(f"wrote {args.out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale_study")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--rows", type=int, default=100_000_000)
    g.add_argument("--chunk", type=int, default=2_500_000)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--path", default=DEFAULT_PATH)
    a = sub.add_parser("analyse")
    a.add_argument("--path", default=DEFAULT_PATH)
    a.add_argument("--engines", default="duckdb,spark")
    a.add_argument("--analyses", default="ab,did,ipw")
    a.add_argument("--wait-minutes", type=float, default=0.0)
    a.add_argument("--kill-gb", type=float, default=8.0)
    a.add_argument("--out", default="")
    o = sub.add_parser("one")
    o.add_argument("analysis", choices=sorted(ANALYSES))
    o.add_argument("engine", choices=["duckdb", "spark"])
    o.add_argument("path")
    args = p.parse_args(argv)
    if args.cmd == "generate":
        generate(Path(args.path), args.rows, args.chunk, args.seed)
    elif args.cmd == "one":
        _child_main(args.analysis, args.engine, args.path)
    else:
        analyse(args)


if __name__ == "__main__":
    main()
