"""Reference numbers for the experiment design, computed with peer libraries (not run in CI).

Run in a separate venv with truelift (for the simulator only), tea-tasting and statsmodels:

    python -m venv /tmp/venv-experiment
    /tmp/venv-experiment/bin/pip install -e . tea-tasting statsmodels
    /tmp/venv-experiment/bin/python tests/reference/make_experiment_reference.py

Writes tests/reference/experiment_reference.json with:
* tea-tasting (normal intervals): Mean, Mean with CUPED covariate, RatioOfMeans on the
  ``experiment`` scenario (seed 7, 5,000 users);
* statsmodels: Lin (2013) fully interacted OLS with centred covariates, HC0 and HC1 SEs of the
  treatment coefficient; NormalIndPower sample size and power.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import statsmodels.api as sm
import tea_tasting as tt
from statsmodels.stats.power import NormalIndPower

import truelift

OUT = Path(__file__).with_name("experiment_reference.json")


def _tea(data):
    exp = tt.Experiment(
        variant="variant",
        mean=tt.Mean("active_minutes", use_t=False),
        cuped=tt.Mean("active_minutes", "pre_active_minutes", use_t=False),
        ratio=tt.RatioOfMeans("tasks_completed", "sessions", use_t=False),
    )
    res = exp.analyze(data)
    out = {}
    for name in ("mean", "cuped", "ratio"):
        r = res[name]
        out[name] = {
            "control": r.control,
            "treatment": r.treatment,
            "effect_size": r.effect_size,
            "ci_lower": r.effect_size_ci_lower,
            "ci_upper": r.effect_size_ci_upper,
            "rel_effect_size": r.rel_effect_size,
            "pvalue": r.pvalue,
        }
    return out


def _lin(data):
    t = data["variant"].to_numpy(float)
    x = data["pre_active_minutes"].to_numpy(float)
    xc = x - x.mean()
    X = sm.add_constant(np.column_stack([t, xc, t * xc]))
    y = data["active_minutes"].to_numpy(float)
    out = {}
    for cov in ("HC0", "HC1", "HC2"):
        fit = sm.OLS(y, X).fit(cov_type=cov)
        out[cov] = {"coef": float(fit.params[1]), "se": float(fit.bse[1])}
    return out


def _power():
    p = NormalIndPower()
    es = 0.02 / np.sqrt(0.2 * 0.8)  # Cohen's d of +2 pp on a 20 % baseline (sd of p = .2)
    n1 = p.solve_power(effect_size=es, alpha=0.05, power=0.8, ratio=1.0)
    pw = p.power(effect_size=es, nobs1=5000, alpha=0.05, ratio=1.0)
    n1_unequal = p.solve_power(effect_size=es, alpha=0.05, power=0.9, ratio=3.0)
    return {
        "n_per_arm": float(n1),
        "power_at_5000": float(pw),
        "n1_ratio3_power90": float(n1_unequal),
    }


def main() -> None:
    data = truelift.simulate("experiment", n_users=5000, seed=7).data
    ref = {
        "source": f"tea-tasting {tt.__version__}, statsmodels",
        "data": "truelift.simulate('experiment', n_users=5000, seed=7)",
        "tea_tasting": _tea(data),
        "statsmodels_lin": _lin(data),
        "statsmodels_power": _power(),
    }
    OUT.write_text(json.dumps(ref, indent=2))
    print(json.dumps(ref, indent=2))


if __name__ == "__main__":
    main()
