"""Sensitivity analysis: E-value, robustness value, benchmark bounds, Rosenbaum bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import truelift
from truelift.errors import DesignError
from truelift.sensitivity import (
    _bias_bound,
    e_value,
    partial_r2,
    robustness_value,
    rosenbaum_bounds,
    rosenbaum_gamma,
    sensitivity,
)

COV = ["engagement_tier", "plan", "log_tenure", "prior_tasks"]
KW = {"treatment": "agent_mode", "outcome": "task_completed", "covariates": COV}


def test_e_value_vanderweele_ding_example():
    # VanderWeele & Ding (2017, Ann Intern Med), breastfeeding example: RR 3.9 (95% CI 1.8-8.7)
    # gives E-values 7.26 and 3.00 (printed to 2 decimals)
    ev = e_value(3.9, 1.8, 8.7)
    assert ev.point == pytest.approx(7.26, abs=0.005)
    assert ev.ci == pytest.approx(3.00, abs=0.005)
    # protective effects use 1/RR; an interval through 1 has E-value 1
    assert e_value(1 / 3.9).point == pytest.approx(ev.point)
    assert e_value(1.2, 0.9, 1.6).ci == 1.0
    assert "risk ratio of 7.26" in ev.message


def test_e_value_risk_difference_scale():
    # RD 0.1 on a 0.4 baseline is RR 1.25: E = 1.25 + sqrt(1.25 * 0.25) (closed form)
    ev = e_value(0.1, scale="rd", baseline=0.4)
    assert ev.point == pytest.approx(1.25 + math.sqrt(1.25 * 0.25), rel=1e-12)
    with pytest.raises(DesignError):
        e_value(0.1, scale="rd")


def test_robustness_value_darfur():
    # Cinelli & Hazlett (2020), Darfur example (Table 1 / sensemakr docs): t = 4.18445, dof 783
    # -> partial R2 2.19 %, RV_q=1 13.9 %, RV_{q=1,alpha=.05} 7.6 % (printed to 3 digits)
    t = 4.18445
    assert partial_r2(t, 783) == pytest.approx(0.022, abs=0.0005)
    assert robustness_value(t, 783) == pytest.approx(0.139, abs=0.0005)
    assert robustness_value(t, 783, alpha=0.05) == pytest.approx(0.076, abs=0.0005)


@pytest.mark.parametrize(
    ("kd", "r2dz", "r2yz", "adjusted"),
    # sensemakr vignette, ovb_bounds(benchmark "female", kd = 1:3): printed to 3-4 digits
    [(1, 0.0092, 0.1246, 0.0752), (2, 0.0183, 0.2493, 0.0530), (3, 0.0275, 0.3741, 0.0305)],
)
def test_benchmark_bounds_darfur(kd, r2dz, r2yz, adjusted):
    r2d, r2y = partial_r2(-2.680, 783), partial_r2(-9.789, 783)  # female's t-values
    bias, _, got_dz, got_yz = _bias_bound(0.0232, 783, r2d, r2y, kd, kd)
    assert got_dz == pytest.approx(r2dz, abs=1e-4)
    assert got_yz == pytest.approx(r2yz, abs=1e-4)
    assert 0.0973 - bias == pytest.approx(adjusted, abs=1e-4)


def test_rosenbaum_bounds_monotone_and_gamma():
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1.0, size=400)
    bounds = rosenbaum_bounds(d, [1, 1.5, 2, 3])
    p = [b["p_upper"] for b in bounds]
    assert p == sorted(p)  # more hidden bias, weaker evidence
    g = rosenbaum_gamma(d, 0.05)
    assert rosenbaum_bounds(d, [g * 0.99])[0]["p_upper"] <= 0.05
    assert rosenbaum_bounds(d, [g * 1.01])[0]["p_upper"] > 0.05
    # Gamma = 1 is Wilcoxon's signed-rank test (normal approximation, no continuity correction)
    from scipy.stats import wilcoxon

    ref = wilcoxon(d, alternative="greater", method="approx", correction=False).pvalue
    assert bounds[0]["p_upper"] == pytest.approx(ref, rel=1e-6)


def test_hidden_confounder_is_fragile_and_clean_is_robust():
    clean = truelift.simulate("optin", n_users=20_000, seed=3).data
    hidden = truelift.simulate("optin", n_users=20_000, seed=3, hidden_confounder=True).data
    ok, bad = sensitivity(clean, **KW), sensitivity(hidden, **KW)
    assert not ok.params["fragile"] and ok.status == "ok"
    assert bad.params["fragile"] and bad.status == "downgraded"
    assert bad.diagnostic("confounding benchmark").message.startswith("Fragile")
    assert "risk ratio" in bad.diagnostic("E-value").message
