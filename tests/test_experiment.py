"""ab_test: parity with published numbers and peer libraries, invariances, options and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import truelift
from tests.conftest import reference_csv
from truelift.experiment import ab_test, sample_ratio_mismatch
from truelift.inference import ols

REF = json.loads((Path(__file__).parent / "reference" / "experiment_reference.json").read_text())


@pytest.fixture(scope="module")
def hillstrom() -> pd.DataFrame:
    return reference_csv("hillstrom.csv")


@pytest.fixture(scope="module")
def exp7() -> pd.DataFrame:
    # the data set tests/reference/make_experiment_reference.py fed to tea-tasting / statsmodels
    return truelift.simulate("experiment", n_users=5000, seed=7).data


# --- parity: Hillstrom MineThatData e-mail test (tests/reference/data/README.md) ------------


def test_hillstrom_arm_rates_and_mens_visit_lift(hillstrom):
    res = ab_test(
        hillstrom, outcome=["visit", "conversion", "spend"], variant="segment", control="No E-Mail"
    )
    assert isinstance(res, truelift.EstimateSet) and len(res) == 6
    mens = res["visit: Mens E-Mail vs No E-Mail"]
    # published: Mens vs control visit lift +0.07659 (se 0.00339); 5th-decimal rounding
    assert mens.estimate == pytest.approx(0.07659, abs=5e-6)
    assert mens.std_error == pytest.approx(0.00339, abs=5e-6)
    # published arm rates / means, printed to 4 (rates) or 2 (spend) decimals
    womens = res["visit: Womens E-Mail vs No E-Mail"]
    assert mens.details["means"]["treatment"] == pytest.approx(0.1828, abs=5e-5)
    assert womens.details["means"]["treatment"] == pytest.approx(0.1514, abs=5e-5)
    assert mens.details["means"]["control"] == pytest.approx(0.1062, abs=5e-5)
    conv = res["conversion: Mens E-Mail vs No E-Mail"].details["means"]
    assert (conv["treatment"], conv["control"]) == pytest.approx((0.0125, 0.0057), abs=5e-5)
    conv_w = res["conversion: Womens E-Mail vs No E-Mail"].details["means"]["treatment"]
    assert conv_w == pytest.approx(0.0088, abs=5e-5)
    spend = res["spend: Mens E-Mail vs No E-Mail"].details["means"]
    spend_w = res["spend: Womens E-Mail vs No E-Mail"].details["means"]["treatment"]
    assert (spend["treatment"], spend_w, spend["control"]) == pytest.approx(
        (1.42, 1.08, 0.65), abs=5e-3
    )
    # published arm sizes n 21,307 / 21,387 / 21,306 (exact counts)
    assert mens.details["n"] == {"control": 21306, "treatment": 21307}
    assert womens.details["n"]["treatment"] == 21387
    assert res.diagnostics[0].verdict == "pass"  # the MineThatData split is balanced


def test_hillstrom_holm_and_bh(hillstrom):
    raw = ab_test(hillstrom, outcome=["visit", "spend"], variant="segment", control="No E-Mail")
    holm = ab_test(
        hillstrom,
        outcome=["visit", "spend"],
        variant="segment",
        control="No E-Mail",
        correction="holm",
    )
    bh = ab_test(
        hillstrom,
        outcome=["visit", "spend"],
        variant="segment",
        control="No E-Mail",
        correction="bh",
    )
    p = np.array([e.p_value for _, e in raw])
    m = p.size
    # Holm (1979) / BH (1995) definitions, recomputed by hand: step-down max, step-up min
    order = np.argsort(p)
    holm_expected = np.maximum.accumulate((m - np.arange(m)) * p[order])
    assert np.array([e.p_value for _, e in holm])[order] == pytest.approx(
        np.minimum(holm_expected, 1), rel=1e-12
    )
    bh_expected = np.minimum.accumulate((m / np.arange(m, 0, -1)) * p[order][::-1])[::-1]
    assert np.array([e.p_value for _, e in bh])[order] == pytest.approx(bh_expected, rel=1e-12)
    # Bonferroni simultaneous intervals are wider than the marginal ones
    first = holm.labels[0]
    assert holm[first].ci_high - holm[first].ci_low > raw[first].ci_high - raw[first].ci_low


# --- parity: the published SaaS tutorial numbers (docs: SIMULATOR.md) ------------------------


def test_saas_prompt_ab_naive_and_adjusted(saas):
    naive = ab_test(saas.data, outcome="task_completed", variant="prompt_variant")
    assert isinstance(naive, truelift.Estimate)
    # tutorial: naive +0.0464 (printed to 4 decimals)
    assert naive.estimate == pytest.approx(0.0464, abs=5e-5)
    adj = ab_test(
        saas.data,
        outcome="task_completed",
        variant="prompt_variant",
        covariates=["engagement_tier", "query_confidence"],
    )
    # tutorial: adjusted for tier and confidence +0.0455 (SE 0.004), printed to 4 / 3 decimals
    assert adj.estimate == pytest.approx(0.0455, abs=5e-5)
    assert adj.std_error == pytest.approx(0.004, abs=5e-4)
    assert adj.std_error < naive.std_error  # the adjustment buys precision
    # the truth of the simulated table: +0.04 prompt effect, within 2 SE
    assert abs(adj.estimate - saas.truths["prompt_ate"]) < 2 * adj.std_error


# --- parity: peers (tests/reference/make_experiment_reference.py) --------------------------


def test_mean_and_ratio_match_tea_tasting(exp7):
    for kwargs, key in (
        ({"outcome": "active_minutes"}, "mean"),
        ({"ratio": ("tasks_completed", "sessions")}, "ratio"),
    ):
        e = ab_test(exp7, variant="variant", **kwargs)
        ref = REF["tea_tasting"][key]
        # same estimator and variance (Welch / delta method, ddof 1): floating-point agreement
        assert e.estimate == pytest.approx(ref["effect_size"], rel=1e-9)
        assert (e.ci_low, e.ci_high) == pytest.approx((ref["ci_lower"], ref["ci_upper"]), rel=1e-9)
        assert e.details["relative_lift"] == pytest.approx(ref["rel_effect_size"], rel=1e-9)
        assert e.p_value == pytest.approx(ref["pvalue"], rel=1e-6)


def test_cuped_close_to_tea_tasting(exp7):
    e = ab_test(
        exp7,
        outcome="active_minutes",
        variant="variant",
        covariates=["pre_active_minutes"],
        adjustment="cuped",
    )
    ref = REF["tea_tasting"]["cuped"]
    half = (ref["ci_upper"] - ref["ci_lower"]) / 2
    # tea-tasting takes theta from the pooled *total* covariance, we from the within-arm one
    # (ANCOVA); both are consistent, they differ by O(1/n): allow 1% of an SE / 1% of the width
    assert e.estimate == pytest.approx(ref["effect_size"], abs=0.01 * half / 1.96)
    assert (e.ci_high - e.ci_low) / 2 == pytest.approx(half, rel=0.01)


def test_lin_matches_interacted_ols(exp7):
    e = ab_test(
        exp7, outcome="active_minutes", variant="variant", covariates=["pre_active_minutes"]
    )
    ref = REF["statsmodels_lin"]
    # Lin (2013): the treatment coefficient of the fully interacted OLS, exactly
    assert e.estimate == pytest.approx(ref["HC0"]["coef"], rel=1e-10)
    # our variance adds the sampling variance of the covariate mean (population ATE) and uses
    # n_a - 1 - k per arm; it is slightly above HC0..HC2: within 1 %
    assert ref["HC0"]["se"] <= e.std_error <= 1.01 * ref["HC2"]["se"]


def test_lin_equals_ols_with_several_covariates(saas):
    # Lin's estimator is the interacted regression's coefficient whatever the covariates
    d = saas.data.iloc[:8000]
    e = ab_test(
        d,
        outcome="session_minutes",
        variant="prompt_variant",
        covariates=["engagement_tier", "query_confidence", "signup_week"],
    )
    t = d["prompt_variant"].to_numpy(float)
    X = np.column_stack(
        [
            (d["engagement_tier"] == "light"),
            (d["engagement_tier"] == "medium"),
            d["query_confidence"],
            d["signup_week"],
        ]
    ).astype(float)
    Xc = X - X.mean(0)
    design = np.column_stack([np.ones_like(t), t, Xc, Xc * t[:, None]])
    fit = ols(design, d["session_minutes"].to_numpy(float), vce="hc2")
    assert e.estimate == pytest.approx(fit.coef[1], rel=1e-9)
    assert e.std_error == pytest.approx(fit.se[1], rel=0.02)  # HC2 vs IF + ddof: within 2 %


# --- behaviour -----------------------------------------------------------------------------


def test_return_types_and_labels(exp7):
    one = ab_test(exp7, outcome="task_completed", variant="variant")
    assert isinstance(one, truelift.Estimate)
    many = ab_test(
        exp7,
        outcome=["task_completed", "latency_ms"],
        variant="variant",
        ratio=("tokens", "sessions"),
    )
    assert isinstance(many, truelift.EstimateSet)
    assert many.labels == ["task_completed", "latency_ms", "tokens / sessions"]
    assert many.headline == "task_completed"
    assert many.params["design"] == "experiment"


def test_label_swap_flips_sign_and_affine_invariance(exp7):
    a = ab_test(exp7, outcome="active_minutes", variant="variant")
    b = ab_test(exp7, outcome="active_minutes", variant="variant", control=1)
    assert b.estimate == pytest.approx(-a.estimate, rel=1e-12)
    assert b.std_error == pytest.approx(a.std_error, rel=1e-12)
    d = exp7.assign(y2=3 * exp7["active_minutes"] + 7)
    c = ab_test(d, outcome="y2", variant="variant")
    assert c.estimate == pytest.approx(3 * a.estimate, rel=1e-9)
    assert c.std_error == pytest.approx(3 * a.std_error, rel=1e-9)
    shuffled = exp7.sample(frac=1.0, random_state=3)
    s = ab_test(
        shuffled, outcome="active_minutes", variant="variant", covariates=["pre_active_minutes"]
    )
    s0 = ab_test(
        exp7, outcome="active_minutes", variant="variant", covariates=["pre_active_minutes"]
    )
    assert s.estimate == pytest.approx(s0.estimate, rel=1e-9)


def test_heavy_tail_diagnostic_and_winsorize(exp7):
    e = ab_test(exp7, outcome="cost_usd", variant="variant")
    d = e.diagnostic("heavy tails")
    assert d.value > 20 and d.verdict in ("pass", "warn")
    w = ab_test(exp7, outcome="cost_usd", variant="variant", winsorize=0.99)
    assert w.std_error < e.std_error
    assert w.params["winsorize"] == 0.99


def test_heavy_tail_verdict_says_whether_the_conclusion_survives():
    # no effect, plus 12 extreme values (500) in the treatment arm: the raw difference is
    # significant, the difference capped at the pooled 99th percentile is not -> "warn"
    rng = np.random.default_rng(0)
    t = np.repeat([0, 1], 2000)
    y = rng.exponential(1.0, t.size)
    y[2000:2012] = 500.0
    df = pd.DataFrame({"y": y, "t": t})
    d = ab_test(df, outcome="y", variant="t").diagnostic("heavy tails")
    capped = np.minimum(y, np.quantile(y, 0.99))
    # the diagnostic's numbers are the plain differences in means, raw and capped (numpy)
    assert d.details["raw"][0] == pytest.approx(y[t == 1].mean() - y[t == 0].mean(), rel=1e-12)
    assert d.details["winsorized"][0] == pytest.approx(
        capped[t == 1].mean() - capped[t == 0].mean(), rel=1e-12
    )
    assert d.details["raw"][1] < 0.05 <= d.details["winsorized"][1]
    assert d.verdict == "warn" and d.details["survives"] is False
    assert "conclusion changes" in d.message
    clean = df.copy()  # a real effect (x 1.5) with the same outliers: survives capping
    clean.loc[clean.t == 1, "y"] = rng.exponential(1.0, 2000) * 1.5
    clean.loc[2000:2011, "y"] = 500.0
    s = ab_test(clean, outcome="y", variant="t").diagnostic("heavy tails")
    assert s.verdict == "pass" and s.details["survives"] and "survives" in s.message


def test_srm_blocks_readout():
    sim = truelift.simulate("experiment", n_users=20_000, seed=3, srm=True)
    e = ab_test(sim.data, outcome="task_completed", variant="variant")
    srm = e.diagnostic("sample ratio mismatch")
    assert srm.verdict == "fail" and srm.consequence == "block" and srm.value < 0.001
    assert e.status == "withheld" and e.headline is None
    assert "withheld" in e.summary("text").lower()
    direct = sample_ratio_mismatch(sim.data, variant="variant")
    assert direct.value == pytest.approx(srm.value)
    # the planned split can be given: a 45/55 plan makes the balanced arms mismatched
    ok = truelift.simulate("experiment", n_users=20_000, seed=3).data
    assert ab_test(ok, outcome="task_completed", variant="variant").status == "ok"
    assert (
        ab_test(ok, outcome="task_completed", variant="variant", expected_split=[0.45, 0.55]).status
        == "withheld"
    )


def test_cluster_randomized(exp7):
    sim = truelift.simulate("experiment", n_users=20_000, seed=5, randomization="workspace")
    e = ab_test(sim.data, outcome="task_completed", variant="variant", cluster="workspace_id")
    naive = ab_test(sim.data, outcome="task_completed", variant="variant")
    assert e.std_error > 1.3 * naive.std_error  # workspace effects: the design effect is real
    assert e.diagnostic("sample ratio mismatch").details["unit"] == "clusters"
    # the simulator's truth (0.03) within 3 cluster-robust SEs
    assert abs(e.estimate - sim.truths["ate_task_completed"]) < 3 * e.std_error
    bad = exp7  # user-randomized: workspaces contain both arms
    with pytest.raises(truelift.DataError, match="more than one variant"):
        ab_test(bad, outcome="task_completed", variant="variant", cluster="workspace_id")


def test_cluster_matches_cr1_regression():
    # cluster-level delta method == CR1 OLS of y on the arm dummy (up to the (n-1)/(n-k) factor)
    sim = truelift.simulate("experiment", n_users=6000, seed=11, randomization="workspace")
    d = sim.data
    e = ab_test(d, outcome="active_minutes", variant="variant", cluster="workspace_id")
    t = d["variant"].to_numpy(float)
    fit = ols(
        np.column_stack([np.ones_like(t), t]),
        d["active_minutes"].to_numpy(float),
        cluster=d["workspace_id"].to_numpy(),
    )
    n = len(d)
    assert e.estimate == pytest.approx(fit.coef[1], rel=1e-9)
    # per-arm G_a/(G_a-1) vs pooled G/(G-1) and (n-1)/(n-k): agree within 2 %
    assert e.std_error == pytest.approx(fit.se[1] * np.sqrt((n - 2) / (n - 1)), rel=0.02)


def test_multi_arm_string_variant_needs_control(hillstrom):
    with pytest.raises(truelift.DesignError, match="name the control"):
        ab_test(hillstrom, outcome="visit", variant="segment")
    with pytest.raises(truelift.DesignError, match="not a level"):
        ab_test(hillstrom, outcome="visit", variant="segment", control="nobody")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"correction": "bonferroni"},
        {"adjustment": "ridge"},
        {"alpha": 1.5},
        {"winsorize": 0.2},
        {"expected_split": [1, 2, 3]},
        {"ratio": ("tokens",)},
    ],
)
def test_bad_options_raise_design_error(exp7, kwargs):
    with pytest.raises(truelift.DesignError):
        ab_test(exp7, outcome="task_completed", variant="variant", **kwargs)


def test_no_metric_raises(exp7):
    with pytest.raises(truelift.DesignError, match="at least one metric"):
        ab_test(exp7, variant="variant")


def test_variant_encodings_agree(exp7):
    base = ab_test(exp7, outcome="active_minutes", variant="variant")
    for v in (
        exp7["variant"].astype(bool),
        exp7["variant"].astype(float),
        exp7["variant"].map({0: "control", 1: "new prompt"}),
        exp7["variant"] + 7,  # integer labels 7 / 8: control named explicitly
    ):
        kw = {"control": 7} if v.max() == 8 else {}
        e = ab_test(exp7.assign(v=v), outcome="active_minutes", variant="v", **kw)
        assert e.estimate == pytest.approx(base.estimate, rel=1e-12)
        assert e.std_error == pytest.approx(base.std_error, rel=1e-12)


def test_ratio_with_covariates_and_cluster_with_covariates(exp7):
    plain = ab_test(exp7, ratio=("tasks_completed", "sessions"), variant="variant")
    adj = ab_test(
        exp7,
        ratio=("tasks_completed", "sessions"),
        variant="variant",
        covariates=["pre_active_minutes"],
    )
    # the adjusted ratio estimates the same effect (simulator truth 0.04) with a smaller SE
    assert adj.std_error < plain.std_error
    assert abs(adj.estimate - 0.04) < 3 * adj.std_error
    sim = truelift.simulate("experiment", n_users=6000, seed=12, randomization="workspace")
    e = ab_test(
        sim.data,
        outcome="active_minutes",
        variant="variant",
        cluster="workspace_id",
        covariates=["pre_active_minutes"],
    )
    assert abs(e.estimate - sim.truths["ate_active_minutes"]) < 3 * e.std_error


def test_kernel_runs_on_warehouse_sums(exp7):
    # the kernels need only per-arm sums and cross-products: one GROUP BY in a warehouse
    duckdb = pytest.importorskip("duckdb")
    from truelift.experiment._moments import ArmMoments, adjusted_means, contrast

    con = duckdb.connect()
    con.register("t", exp7)
    rows = con.execute(
        "select variant, count(*), sum(y), sum(x), sum(y*y), sum(x*y), sum(x*x) from "
        "(select variant, active_minutes y, pre_active_minutes x from t) "
        "group by variant order by variant"
    ).fetchall()
    cross = np.array(
        [[[n, sy, sx], [sy, syy, sxy], [sx, sxy, sxx]] for _, n, sy, sx, syy, sxy, sxx in rows],
        dtype=float,
    )
    c = contrast(adjusted_means(ArmMoments(cross, m=1, k=1), "lin"), 1, 0, [0])
    e = ab_test(
        exp7, outcome="active_minutes", variant="variant", covariates=["pre_active_minutes"]
    )
    assert c.diff == pytest.approx(e.estimate, rel=1e-9)
    assert np.sqrt(c.var_diff) == pytest.approx(e.std_error, rel=1e-9)
