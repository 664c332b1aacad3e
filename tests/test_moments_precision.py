"""Standard errors from per-group moments stay exact when the outcome's mean is large next to its
spread (revenue in cents, timestamps, an outcome shifted by a constant).

``naive_difference``, ``did_2x2`` (without covariates), ``ab_test`` and ``sequential_test``
compute their SEs from per-arm or per-cell moments, in memory or inside an engine. Sums of
squares would lose the variance to cancellation (``ss/n - mean^2``): with a mean of 123 and a
spread of 0.002, a relative 1e-6 of the SE; in ``ab_test`` with a covariate shifted by 1e6 as
well, 3e-4 of the SE and 2.5e-5 in the CUPED estimate. The moments are therefore squared
deviations from each group's mean (a second pass in memory, the engine's population variance on
a lazy table), ``ab_test``'s cross-products are of columns centred at their means (one small
query first on a lazy table), and ``sequential_test`` centres the outcome before its cumulative
sums. Reference: the same data unshifted, since y -> y + b leaves every SE unchanged (and
y -> a y scales it by |a|). Tolerance 1e-9 relative: subtracting a mean of 1e6 rounds each value
by about 1e-10 absolute against a spread of 1.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

import truelift

REL = 1e-9  # rounding of the shifted values (see the module docstring)


def _frame(seed: int = 3, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.binomial(1, 0.4, n)
    post = rng.binomial(1, 0.5, n)
    g = rng.integers(0, 20, n)
    y = 0.5 * t + 0.2 * post + 0.3 * t * post + rng.normal(size=n)
    return pd.DataFrame({"t": t, "post": post, "g": g, "y": y})


def _lazy(df: pd.DataFrame) -> duckdb.DuckDBPyRelation:
    return duckdb.connect().from_df(df)


@pytest.mark.parametrize("lazy", [False, True])
def test_naive_difference_se_ignores_a_large_offset(lazy: bool) -> None:
    df = _frame()
    moved = df.assign(y=0.002 * df["y"] + 123.0)  # the case that cost 1.3e-6 with sums of squares
    wrap = _lazy if lazy else (lambda d: d)
    base = truelift.naive_difference(wrap(df), treatment="t", outcome="y")
    got = truelift.naive_difference(wrap(moved), treatment="t", outcome="y")
    assert got.std_error == pytest.approx(0.002 * base.std_error, rel=REL)
    far = truelift.naive_difference(wrap(df.assign(y=df["y"] + 1e6)), treatment="t", outcome="y")
    assert far.std_error == pytest.approx(base.std_error, rel=REL)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("cluster", [None, "g"])
def test_did_2x2_se_ignores_a_large_offset(lazy: bool, cluster: str | None) -> None:
    df = _frame()
    wrap = _lazy if lazy else (lambda d: d)
    kw = {"outcome": "y", "treated": "t", "post": "post", "cluster": cluster}
    base = truelift.did_2x2(wrap(df), **kw)
    far = truelift.did_2x2(wrap(df.assign(y=df["y"] + 1e6)), **kw)
    # the estimate is a difference of four means near 1e6, each rounded at about 1e-10: any
    # computation of it carries that absolute error
    assert far.estimate == pytest.approx(base.estimate, abs=1e-8)
    assert far.std_error == pytest.approx(base.std_error, rel=REL)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("covariates", [None, ["x"]])
def test_ab_test_se_ignores_a_large_offset(lazy: bool, covariates: list[str] | None) -> None:
    from truelift.experiment import ab_test

    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame({"arm": rng.choice(["a", "b"], n), "x": rng.normal(size=n)})
    df["y"] = 0.1 * (df["arm"] == "b") + 0.3 * df["x"] + rng.normal(size=n)
    wrap = _lazy if lazy else (lambda d: d)

    def first(d: pd.DataFrame) -> truelift.Estimate:
        r = ab_test(wrap(d), variant="arm", control="a", outcome="y", covariates=covariates)
        return r.estimates[0] if hasattr(r, "estimates") else r

    base = first(df)
    far = first(df.assign(y=df["y"] + 1e6, x=df["x"] + 1e6))
    assert far.estimate == pytest.approx(base.estimate, abs=1e-8)  # means near 1e6 (see above)
    assert far.std_error == pytest.approx(base.std_error, rel=REL)
    scaled = first(df.assign(y=0.002 * df["y"] + 123.0))
    assert scaled.std_error == pytest.approx(0.002 * base.std_error, rel=REL)


def test_sequential_test_ignores_a_large_offset() -> None:
    from truelift.experiment import sequential_test

    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame({"arm": rng.integers(0, 2, n)})
    df["y"] = 0.1 * df["arm"] + rng.normal(size=n)
    base = sequential_test(df, outcome="y", variant="arm", looks=10)
    far = sequential_test(df.assign(y=df["y"] + 1e6), outcome="y", variant="arm", looks=10)
    assert far.estimate == pytest.approx(base.estimate, abs=1e-8)  # means near 1e6 (see above)
    assert far.std_error == pytest.approx(base.std_error, rel=REL)


@pytest.mark.parametrize("cluster", [None, "g"])
def test_regression_adjustment_ignores_a_covariates_offset_and_units(cluster: str | None) -> None:
    # did_2x2 with a covariate (the shared OLS) and iv with a covariate (partialling out): a
    # covariate shifted by 1e6 used to read as collinear with the constant (DataError); in other
    # units (x 1e7) the singularity check must not change its mind either
    df = _frame().assign(x=lambda d: np.random.default_rng(9).normal(size=len(d)))
    kw = {"outcome": "y", "treated": "t", "post": "post", "covariates": ["x"], "cluster": cluster}
    base = truelift.did_2x2(df, **kw)
    far = truelift.did_2x2(df.assign(x=df["x"] + 1e6), **kw)
    assert far.estimate == pytest.approx(base.estimate, rel=REL)
    assert far.std_error == pytest.approx(base.std_error, rel=REL)
    units = truelift.did_2x2(df.assign(x=df["x"] * 1e7), **kw)
    assert units.std_error == pytest.approx(base.std_error, rel=REL)
    rng = np.random.default_rng(11)
    z = rng.binomial(1, 0.5, len(df))
    d = (0.8 * z + rng.normal(size=len(df)) > 0.5).astype(int)
    dv = df.assign(z=z, d=d, y=0.5 * d + 0.4 * df["x"] + rng.normal(size=len(df)))
    ikw = {"outcome": "y", "treatment": "d", "instrument": "z", "covariates": ["x"]}
    a = dict(truelift.iv(dv, **ikw, cluster=cluster).estimates)["LATE"]
    b = dict(truelift.iv(dv.assign(x=dv["x"] + 1e6), **ikw, cluster=cluster).estimates)["LATE"]
    assert b.estimate == pytest.approx(a.estimate, rel=REL)
    assert b.std_error == pytest.approx(a.std_error, rel=REL)


@pytest.mark.parametrize("cluster", [None, "g"])
def test_iv_on_a_lazy_table_ignores_a_large_offset(cluster: str | None) -> None:
    # the engine path's Gram sums of (1, z, y, d): a 1e6 offset in y used to move the SE by 8.5e-4
    rng = np.random.default_rng(12)
    n = 4000
    z = rng.binomial(1, 0.5, n)
    d = (0.8 * z + rng.normal(size=n) > 0.5).astype(int)
    df = pd.DataFrame(
        {"z": z, "d": d, "y": 0.5 * d + rng.normal(size=n), "g": rng.integers(0, 30, n)}
    )
    kw = {"outcome": "y", "treatment": "d", "instrument": "z", "cluster": cluster}
    a = truelift.iv(_lazy(df), **kw)
    b = truelift.iv(_lazy(df.assign(y=df["y"] + 1e6)), **kw)
    for (name, ea), (_, eb) in zip(a.estimates, b.estimates, strict=True):
        assert eb.estimate == pytest.approx(ea.estimate, abs=1e-8), name  # means near 1e6
        assert eb.std_error == pytest.approx(ea.std_error, rel=REL), name
    arms = a.details["arms"]["access"], b.details["arms"]["access"]
    assert arms[1]["mean_outcome"] == pytest.approx(arms[0]["mean_outcome"] + 1e6, rel=1e-12)
    assert arms[1]["take_up"] == pytest.approx(arms[0]["take_up"], rel=1e-12)


def test_heavy_tail_check_ignores_a_large_offset() -> None:
    # the diagnostic's raw and winsorized Welch tests come from per-arm sums of squares of the
    # metric less its mean (in memory), so a 1e6 offset leaves their p-values as they were
    from truelift.experiment import ab_test

    rng = np.random.default_rng(8)
    n = 4000
    df = pd.DataFrame({"arm": rng.choice(["a", "b"], n), "y": rng.lognormal(0.0, 1.5, n)})

    def check(d: pd.DataFrame) -> dict:
        r = ab_test(d, variant="arm", control="a", outcome="y")
        diags = r.diagnostics if hasattr(r, "diagnostics") else ()
        found = [g for g in diags if g.name == "heavy tails"]
        if not found and hasattr(r, "estimates"):
            found = [g for _, e in r.estimates for g in e.diagnostics if g.name == "heavy tails"]
        assert found, "the lognormal metric is heavy-tailed"
        return dict(found[0].details)

    base, far = check(df), check(df.assign(y=df["y"] + 1e6))
    assert far["raw"][1] == pytest.approx(base["raw"][1], rel=REL)  # p-values (6e-13 measured)
    assert far["winsorized"][1] == pytest.approx(base["winsorized"][1], rel=REL)
