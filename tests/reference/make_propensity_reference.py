"""Reference numbers for the propensity designs, computed with peer packages.

Run (needs statsmodels and scikit-learn; not run by CI):

    python tests/reference/make_propensity_reference.py

Writes ``propensity_reference.json`` beside this file. Sources:

* statsmodels ``treatment.TreatmentEffect`` (a port of Stata's ``teffects``): ``ipw`` solves the
  logistic score equations and the normalised (Hájek) weighted-mean equations jointly by GMM and
  reports their sandwich SE, the same stacked M-estimator as ``truelift.ipw`` (ATE and, with
  ``effect_group=1``, ATT); ``aipw`` is the doubly robust estimator with a logistic score and
  per-arm linear outcome models. statsmodels ``Logit`` gives the unpenalized MLE.
* The SaaS tutorial's computation (docs/simulator.md, "Numbers the tutorials print"): scikit-learn's
  ``LogisticRegression()`` (default L2 penalty, C = 1) on the tier dummies light/medium and
  query_confidence, Hájek weights, SMDs with the pooled raw SD; it reproduces the published
  +0.0851 / +0.0770 / 0.744 / +0.742 / +0.002 / -0.032 / -0.003.

Tables: ``simulate("saas", seed=42, n_users=50_000)`` (the published table) and
``simulate("optin", seed=7, n_users=20_000)`` (several covariates, non-linear selection).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import statsmodels
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from statsmodels.treatment.treatment_effects import TreatmentEffect

import truelift

OUT = Path(__file__).with_name("propensity_reference.json")


def design(df: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    """Intercept, dummies against the first level (alphabetical, as truelift encodes), numerics."""
    parts = [pd.Series(1.0, index=df.index, name="intercept")]
    for c in categorical:
        values = df[c].astype(str)
        for lev in sorted(values.unique())[1:]:
            parts.append((values == lev).astype(float).rename(f"{c}[{lev}]"))
    parts += [df[c].astype(float) for c in numeric]
    return pd.concat(parts, axis=1)


def teffects(df: pd.DataFrame, X: pd.DataFrame, t: str, y: str) -> dict[str, Any]:
    """statsmodels IPW (ATE, ATT) and AIPW (ATE) with their GMM sandwich SEs."""
    tt, yy = df[t].to_numpy(), df[y].to_numpy(float)
    logit = sm.Logit(tt, X).fit(disp=0, tol=1e-12, maxiter=100)
    te = TreatmentEffect(sm.OLS(yy, X), tt, results_select=logit)
    out: dict[str, Any] = {}
    for name, res in (
        ("ipw_ate", te.ipw(effect_group="all")),
        ("ipw_att", te.ipw(effect_group=1)),
        ("aipw_ate", te.aipw()),
    ):
        frame = res.summary_frame()
        out[name] = {"estimate": float(frame.iloc[0, 0]), "std_error": float(frame.iloc[0, 1])}
    e = logit.predict(X)
    out["logit"] = {
        "coef": dict(zip(X.columns, map(float, logit.params), strict=True)),
        "auc": float(roc_auc_score(tt, e)),
        "min": float(e.min()),
        "max": float(e.max()),
    }
    return out


def smd(x: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Raw and weighted SMD, denominator the pooled raw SD (as the tutorial computes it)."""
    tr, co = t == 1, t == 0
    sd = np.sqrt((x[tr].var() + x[co].var()) / 2)
    raw = (x[tr].mean() - x[co].mean()) / sd
    adj = (np.average(x[tr], weights=w[tr]) - np.average(x[co], weights=w[co])) / sd
    return float(raw), float(adj)


def tutorial(df: pd.DataFrame) -> dict[str, Any]:
    """The published computation: L2-penalised logistic (C = 1), Hájek weights, SMDs."""
    t = df["opt_in_agent_mode"].to_numpy(float)
    y = df["task_completed"].to_numpy(float)
    tier = df["engagement_tier"].astype(str)
    X = np.column_stack([tier == "light", tier == "medium", df["query_confidence"]]).astype(float)
    e = LogisticRegression().fit(X, t).predict_proba(X)[:, 1]

    def hajek(w1: np.ndarray, w0: np.ndarray) -> float:
        return float(w1 @ y / w1.sum() - w0 @ y / w0.sum())

    w_ate = np.where(t == 1, 1 / e, 1 / (1 - e))
    heavy = (tier == "heavy").to_numpy(float)
    return {
        "naive": float(y[t == 1].mean() - y[t == 0].mean()),
        "auc": float(roc_auc_score(t, e)),
        "min": float(e.min()),
        "max": float(e.max()),
        "ipw_ate": hajek(t / e, (1 - t) / (1 - e)),
        "ipw_att": hajek(t, (1 - t) * e / (1 - e)),
        "smd_heavy": smd(heavy, t, w_ate),
        "smd_query_confidence": smd(df["query_confidence"].to_numpy(float), t, w_ate),
    }


def main() -> None:
    saas = truelift.simulate("saas", seed=42, n_users=50_000).data
    optin = truelift.simulate("optin", seed=7, n_users=20_000).data
    ref = {
        "generated_by": "tests/reference/make_propensity_reference.py",
        "versions": {"statsmodels": statsmodels.__version__, "scikit-learn": sklearn.__version__},
        "saas": {
            "table": {"scenario": "saas", "seed": 42, "n_users": 50_000},
            "treatment": "opt_in_agent_mode",
            "outcome": "task_completed",
            "covariates": ["engagement_tier", "query_confidence"],
            "statsmodels": teffects(
                saas,
                design(saas, ["engagement_tier"], ["query_confidence"]),
                "opt_in_agent_mode",
                "task_completed",
            ),
            "tutorial_sklearn_C1": tutorial(saas),
        },
        "optin": {
            "table": {"scenario": "optin", "seed": 7, "n_users": 20_000},
            "treatment": "agent_mode",
            "outcome": "task_completed",
            "covariates": ["engagement_tier", "plan", "log_tenure", "prior_tasks"],
            "statsmodels": teffects(
                optin,
                design(optin, ["engagement_tier", "plan"], ["log_tenure", "prior_tasks"]),
                "agent_mode",
                "task_completed",
            ),
        },
    }
    OUT.write_text(json.dumps(ref, indent=2) + "\n")
    print(json.dumps(ref, indent=2))


if __name__ == "__main__":
    main()
