"""Hostile column names on the engine path: every public estimator, on a DuckDB relation.

Column names reach SQL only as identifiers. For every public estimator (a function of
``truelift.__all__`` whose first parameter is ``data``) this file runs one call on a DuckDB
relation whose columns are renamed to hostile names (a quote-and-comment injection, SQL keywords,
a space, ``*``, a dot, a regex) and checks that the figures equal the in-memory call on the
original names, and that no table of the connection was touched.

Which estimators have an engine path is read from the code, not from a list: an estimator that
rejects a lazy table (``DataError: data must be a pandas, polars or pyarrow table``) is skipped
as "no engine path at HEAD"; one that collects the columns it needs is held to the same check.
Tolerance: 1e-9 relative (the engine path feeds the same kernel with the same sums or rows; only
the summation order differs), 1e-12 absolute for figures that are zero.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

import truelift

REL, ABS = 1e-9, 1e-12
NO_ENGINE = "must be a pandas, polars or pyarrow table"
PROVENANCE = {"collected", "engine", "transferred"}
HOSTILE = [
    'a"; DROP TABLE x; --',
    "*",
    "select",
    "with space",
    "b'); DROP TABLE x; --",
    "from.where",
    "^c.*$",
    "`tick`",
]


@dataclass(frozen=True)
class Case:
    scenario: str
    kwargs: dict[str, Any]  # column-valued arguments name columns of the simulated table
    sim: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # arguments that are not columns
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    slow: bool = False  # over 5 s on the engine path (many small queries)


def _two_by_two(d: pd.DataFrame) -> pd.DataFrame:
    keep = d[d["cohort"].isin([0, 6])]
    return keep.assign(ever=(keep["cohort"] == 6).astype(int), post=(keep["week"] >= 6).astype(int))


def _with_score(d: pd.DataFrame) -> pd.DataFrame:
    return d.assign(score=d["query_confidence"] + 0.01 * d["tenure_weeks"])


def _with_policy(d: pd.DataFrame) -> pd.DataFrame:
    return d.assign(policy=(d["query_confidence"] > 0.7).astype(int))


HETERO = {"n_users": 3_000, "seed": 2}
UPLIFT = {"treatment": "agent_mode", "outcome": "task_completed"}
OPTIN = {"treatment": "agent_mode", "outcome": "task_completed"}
ROLLOUT = {"outcome": "tasks", "unit": "user_id", "time": "week"}
CASES: dict[str, Case] = {
    "naive_difference": Case(
        "saas", {"treatment": "opt_in_agent_mode", "outcome": "task_completed"}
    ),
    "iv": Case(
        "access",
        {
            "outcome": "tasks_completed",
            "treatment": "used_feature",
            "instrument": "access",
            "cluster": "workspace_id",
        },
        sim={"always_takers": True},
    ),
    "ab_test": Case(
        "experiment",
        {
            "outcome": "active_minutes",
            "variant": "variant",
            "covariates": ["pre_active_minutes"],
            "ratio": ("tasks_completed", "sessions"),
        },
        options={"adjustment": "cuped"},
    ),
    "sample_ratio_mismatch": Case("experiment", {"variant": "variant"}),
    "power_inputs": Case(
        "experiment",
        {
            "outcome": "active_minutes",
            "covariates": ["pre_active_minutes"],
            "cluster": "workspace_id",
        },
    ),
    "sequential_test": Case(
        "experiment",
        {"outcome": "active_minutes", "variant": "variant", "order": "time_slot"},
        options={"looks": 5},
    ),
    "switchback": Case(
        "experiment",
        {"outcome": "task_completed", "treatment": "variant", "time": "time_slot"},
        sim={"randomization": "switchback"},
    ),
    "ipw": Case("optin", {**OPTIN, "covariates": ["log_tenure", "prior_tasks"]}),
    "aipw": Case("optin", {**OPTIN, "covariates": ["log_tenure", "prior_tasks"]}),
    "match": Case("optin", {**OPTIN, "covariates": ["log_tenure", "prior_tasks"]}),
    "propensity_score": Case(
        "optin", {"treatment": "agent_mode", "covariates": ["log_tenure", "prior_tasks"]}
    ),
    "sensitivity": Case("optin", {**OPTIN, "covariates": ["log_tenure", "prior_tasks"]}),
    "did_2x2": Case(
        "rollout",
        {"outcome": "tasks", "treated": "ever", "post": "post", "cluster": "workspace_id"},
        prepare=_two_by_two,
    ),
    "twfe": Case("rollout", {**ROLLOUT, "treatment": "treated", "cluster": "workspace_id"}),
    "event_study": Case("rollout", {**ROLLOUT, "cohort": "cohort", "cluster": "workspace_id"}),
    "did": Case("rollout", {**ROLLOUT, "cohort": "cohort"}, options={"method": "reg"}),
    "bacon": Case("rollout", {**ROLLOUT, "treatment": "treated"}),
    "rdd": Case(
        "threshold",
        {"outcome": "task_completed", "running": "query_confidence"},
        options={"cutoff": 0.85, "treated_side": "below", "bandwidth": 0.1},
        slow=True,  # ~95 small aggregation queries (estimate + diagnostics): 17-29 s here
    ),
    "density_test": Case("threshold", {"running": "query_confidence"}, options={"cutoff": 0.85}),
    "synth": Case(
        "launch",
        {"outcome": "task_completion", "unit": "product", "time": "week", "treatment": "launched"},
    ),
    "detect_design": Case("saas", {"treatment": "opt_in_agent_mode"}),
    "fit_uplift": Case(
        "hetero",
        {**UPLIFT, "covariates": ["query_confidence", "tenure_weeks"]},
        sim=HETERO,
        options={"learner": "t", "n_folds": 2, "rng": 0},
    ),
    "evaluate_uplift": Case(
        "hetero",
        {**UPLIFT, "score": "score"},
        sim=HETERO,
        options={"propensity": 0.5, "n_boot": 20, "rng": 0},
        prepare=_with_score,
    ),
    "policy_value": Case(
        "hetero",
        {**UPLIFT, "policy": "policy"},
        sim=HETERO,
        options={"propensity": 0.5, "rng": 0},
        prepare=_with_policy,
    ),
    "heterogeneity_test": Case(
        "hetero",
        {**UPLIFT, "covariates": ["query_confidence", "tenure_weeks"]},
        sim=HETERO,
        options={"learner": "t", "n_folds": 2, "propensity": 0.5, "rng": 0},
    ),
    "targeting_rule": Case(
        "hetero",
        {**UPLIFT, "covariates": ["query_confidence", "tenure_weeks"]},
        sim=HETERO,
        options={"learner": "t", "n_folds": 2, "propensity": 0.5, "rng": 0},
    ),
}
# Known bugs found by this file (name -> reason): strict xfails, so a fix asks for removal.
KNOWN_BUGS: dict[str, str] = {}
NOT_ROW_ESTIMATORS = {
    "analyze": "dispatches to the estimators checked here",
}


def _public_estimators() -> dict[str, Callable[..., Any]]:
    out = {}
    for name in truelift.__all__:
        fn = getattr(truelift, name)
        if inspect.isfunction(fn):
            params = list(inspect.signature(fn).parameters)
            if params and params[0] == "data":
                out[name] = fn
    return out


def test_every_public_estimator_has_a_case():
    """A new estimator fails here until it gets a hostile-name case (or a reason it needs none)."""
    missing = sorted(set(_public_estimators()) - set(CASES) - set(NOT_ROW_ESTIMATORS))
    assert not missing, f"add a Case for {missing}"


def _columns(kwargs: dict[str, Any]) -> list[str]:
    cols: list[str] = []
    for v in kwargs.values():
        for c in [v] if isinstance(v, str) else list(v):
            if c not in cols:
                cols.append(c)
    return cols


def _rename(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return names[value]
    if isinstance(value, tuple):
        return tuple(names[c] for c in value)
    return [names[c] for c in value]


def _figures(res: Any) -> list[float]:
    if isinstance(res, truelift.Estimate):
        f = [res.estimate, res.std_error, res.ci_low, res.ci_high, res.p_value, res.n_obs]
        return [float(x) for x in f]
    if isinstance(res, truelift.EstimateSet):
        return [x for _, e in res for x in _figures(e)]
    if isinstance(res, truelift.Diagnostic):
        return [float("nan") if res.value is None else float(res.value)]
    if hasattr(res, "cate_"):  # a fitted uplift learner: its in-sample CATEs
        return [float(x) for x in np.asarray(res.cate_)]
    if hasattr(res, "auc") and hasattr(res, "coef"):  # PropensityScore
        return [float(res.auc), float(res.n_obs), *map(float, dict(res.coef or {}).values())]
    if hasattr(res, "to_dict"):
        return _numbers(res.to_dict())
    if dataclasses.is_dataclass(res) and not isinstance(res, type):  # e.g. detected facts
        return _numbers(dataclasses.asdict(res))
    raise TypeError(f"no figures for {type(res).__name__}")


def _numbers(obj: Any) -> list[float]:
    if obj is None:
        return []
    if isinstance(obj, bool):
        return [float(obj)]
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, dict):  # provenance (what was collected, by which engine) differs by design
        return [x for k, v in obj.items() if k not in PROVENANCE for x in _numbers(v)]
    if isinstance(obj, list | tuple):
        return [x for v in obj for x in _numbers(v)]
    return []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=[
                *(
                    [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[n])]
                    if n in KNOWN_BUGS
                    else []
                ),
                *([pytest.mark.slow] if CASES[n].slow else []),
            ],
        )
        for n in sorted(CASES)
    ],
)
def test_hostile_names_on_duckdb(name):
    fn = _public_estimators().get(name)
    if fn is None:
        pytest.skip(f"{name} is not public at HEAD")
    case = CASES[name]
    sim = {"n_users": 4_000, "seed": 3, **case.sim}
    df = truelift.simulate(case.scenario, **sim).data
    if case.prepare is not None:
        df = case.prepare(df)
    df = df.reset_index(drop=True)
    cols = _columns(case.kwargs)
    names = dict(zip(cols, HOSTILE, strict=False))
    assert len(names) == len(cols), "add hostile names"
    hostile = df.rename(columns=names)
    con = duckdb.connect()
    con.execute("CREATE TABLE x AS SELECT 1 AS canary")
    con.register("src", hostile)
    rel = con.sql("SELECT * FROM src")
    kwargs = {k: _rename(v, names) for k, v in case.kwargs.items()}
    try:
        got = fn(rel, **kwargs, **case.options)
    except truelift.DataError as exc:
        if NO_ENGINE in str(exc):
            pytest.skip(f"{name}: no engine path at HEAD")
        raise
    want = fn(df, **case.kwargs, **case.options)
    assert _figures(got) == pytest.approx(_figures(want), rel=REL, abs=ABS, nan_ok=True)
    assert con.sql("SELECT canary FROM x").fetchall() == [(1,)]  # nothing dropped or injected
