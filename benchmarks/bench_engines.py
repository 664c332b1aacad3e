"""Engine path vs in-memory path vs peers, from one Parquet file (default 10M rows), one run.

``python -m benchmarks.bench_engines [n_rows] [path]``. The file is the scale study's table
(:mod:`benchmarks.scale_study`, written in chunks by the simulator; generated once and reused).
Three analyses, each run in a fresh child process so that its peak RSS is its own:

* A/B + CUPED: ``ab_test(..., covariates=["pre_active_minutes"], adjustment="cuped")``;
  peer: tea-tasting's ``Mean("active_minutes", covariate="pre_active_minutes")``;
* TWFE DiD with workspace-clustered SEs: ``twfe(...)``; peer: pyfixest
  ``feols("tasks ~ treated | user_id + week", vcov={"CRV1": "workspace_id"})``;
* IPW (ATE, influence-function SEs): ``ipw(...)``; peers: DoWhy's
  ``backdoor.propensity_score_weighting`` (no SE) and EconML's ``LinearDRLearner`` (AIPW, SE),
  as in ``bench_propensity``.

Modes: ``engine`` opens the file with :func:`truelift.io.read_table` (a DuckDB relation) and
aggregates in DuckDB; ``memory`` reads the needed columns with ``pandas.read_parquet`` and runs
the in-memory path; each peer reads the same columns and runs its own estimator. Times include reading
the file (that is what a user waits for); the fit alone is shown too. Peers that are not
installed are reported as such (the ``bench`` extra installs them).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.scale_study import ANALYSES, COVARIATES, _tree_rss_mb, generate

PEERS = {"ab": ["tea_tasting"], "did": ["pyfixest"], "ipw": ["dowhy", "econml"]}
COLUMNS = {
    "ab": ["variant", "pre_active_minutes", "active_minutes"],
    "did": ["tasks", "user_id", "week", "treated", "workspace_id"],
    "ipw": ["agent_mode", "task_completed", *COVARIATES],
}


def _peer(peer: str, df: Any) -> tuple[float, float]:
    """Estimate and SE from a peer library (raises ImportError if it is not installed)."""
    if peer == "tea_tasting":
        import tea_tasting as tt

        res = tt.Experiment(cuped=tt.Mean("active_minutes", "pre_active_minutes")).analyze(df)
        r = res["cuped"]
        return float(r.effect_size), (r.effect_size_ci_upper - r.effect_size_ci_lower) / 3.919928
    if peer == "pyfixest":
        import pyfixest as pf

        fit = pf.feols("tasks ~ treated | user_id + week", data=df, vcov={"CRV1": "workspace_id"})
        return float(fit.coef()["treated"]), float(fit.se()["treated"])
    if peer == "dowhy":
        from dowhy import CausalModel

        model = CausalModel(
            data=df.assign(agent_mode=df["agent_mode"].astype(bool)),
            treatment="agent_mode",
            outcome="task_completed",
            common_causes=COVARIATES,
        )
        est = model.estimate_effect(
            model.identify_effect(proceed_when_unidentifiable=True),
            method_name="backdoor.propensity_score_weighting",
            method_params={"weighting_scheme": "ips_normalized_weight"},
        )
        return float(est.value), float("nan")  # DoWhy reports no SE for IPS weighting
    import numpy as np
    from econml.dr import LinearDRLearner
    from sklearn.linear_model import LinearRegression, LogisticRegression

    learner = LinearDRLearner(
        model_propensity=LogisticRegression(C=np.inf, solver="newton-cholesky"),
        model_regression=LinearRegression(),
        cv=2,
        random_state=0,
    )
    y, t = df["task_completed"].to_numpy(), df["agent_mode"].to_numpy()
    learner.fit(y, t, X=None, W=df[COVARIATES].to_numpy())
    inf = learner.ate_inference()
    return float(inf.mean_point), float(inf.stderr_mean)


def child(analysis: str, mode: str, path: str) -> dict[str, Any]:
    import importlib

    import pandas as pd

    from truelift.io import read_table

    module, fn_name, kwargs, _ = ANALYSES[analysis]
    fn = getattr(importlib.import_module(module), fn_name)
    t0 = time.perf_counter()
    if mode == "engine":
        data = read_table(path)
    else:
        data = pd.read_parquet(path, columns=COLUMNS[analysis])
    t1 = time.perf_counter()
    if mode not in ("engine", "memory"):
        try:
            est, se = _peer(mode, data)
        except ImportError as exc:
            return {"status": f"not installed ({exc.name}; the bench extra installs it)"}
    else:
        res = fn(data, **kwargs)
        res = res.headline_estimate if hasattr(res, "headline_estimate") else res
        est, se = res.estimate, res.std_error
    t2 = time.perf_counter()
    return {"status": "ok", "estimate": est, "std_error": se, "read_s": t1 - t0, "fit_s": t2 - t1}


def _run(analysis: str, mode: str, path: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.bench_engines", "child", analysis, mode, path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_mb(proc.pid)[0])
        time.sleep(0.2)
    out, err = proc.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return {"status": "crashed: " + (err.strip().splitlines() or ["?"])[-1][:200]}
    r: dict[str, Any] = json.loads(lines[-1][7:])
    r["tree_peak_mb"] = max(peak, r.get("py_peak_mb", 0.0))
    return r


def main(n_rows: int = 10_000_000, path: str | None = None) -> None:
    file = Path(path or f"/tmp/truelift_bench/user_week_{n_rows // 1_000_000}m.parquet")
    if not file.exists():
        generate(file, n_rows, min(n_rows, 2_500_000), seed=7)
    print(f"engine path vs in-memory vs peers, {n_rows:,} rows from {file} (one run each)")
    for analysis in ANALYSES:
        modes = ["engine", "memory", *PEERS[analysis]]
        runs = {m: _run(analysis, m, str(file)) for m in modes}
        eng = runs["engine"]
        for mode, r in runs.items():
            name = mode
            if r.get("status") != "ok":
                print(f"  {analysis:4s} {name:11s} {r.get('status')}")
                continue
            total = r["read_s"] + r["fit_s"]
            line = (
                f"  {analysis:4s} {name:11s} {total:7.2f} s (read {r['read_s']:6.2f}, fit "
                f"{r['fit_s']:6.2f}; cpu {r['cpu_s']:6.2f})  peak {r['tree_peak_mb']:6,.0f} MB  estimate "
                f"{r['estimate']:+.6f} se {r['std_error']:.6f}"
            )
            if mode != "engine" and eng.get("status") == "ok":
                ratio = total / (eng["read_s"] + eng["fit_s"])
                line += f"  time {ratio:5.2f}x, memory {r['tree_peak_mb'] / eng['tree_peak_mb']:5.2f}x the engine path"
            print(line, flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        try:
            result = child(*sys.argv[2:5])
        except Exception as exc:  # reported by the parent
            result = {"status": f"error {type(exc).__name__}: {str(exc)[:300]}"}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["py_peak_mb"] = usage.ru_maxrss / 1024
        result["cpu_s"] = usage.ru_utime + usage.ru_stime  # whole child, imports included
        print("RESULT " + json.dumps(result), flush=True)
    else:
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000,
            sys.argv[2] if len(sys.argv) > 2 else None,
        )
