"""The closed-form TWFE of a sorted balanced panel (truelift.did._panel) against the general path.

References: the general path (alternating projections on rows; itself held to R fixest/lm and
pyfixest in test_did_twfe.py, and on mpdta, which is sorted and balanced, through this closed
form) and a direct extended-precision (long double) computation of the same algebra. The
closed form is a reordering of the same sums, so the tolerances are floating-point rounding:
1e-10 relative against the general path, 1e-12 against long double.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from truelift.did import twfe
from truelift.did._panel import balanced_twfe
from truelift.errors import MissingDataWarning

KW = dict(outcome="y", unit="unit", time="time", treatment="d")


def _panel(units: int = 600, periods: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = rng.choice(np.array([0, 3, 5, 7]), size=units)
    t = np.tile(np.arange(1, periods + 1), units)
    g = np.repeat(first, periods)
    d = ((g > 0) & (t >= g)).astype(np.int64)
    y = np.repeat(rng.normal(size=units), periods) + 0.1 * t + (0.3 + 0.05 * t) * d
    y = y + rng.normal(size=units * periods)
    ids = np.repeat(np.sort(rng.choice(10**6, units, replace=False)), periods)  # sparse ids
    return pd.DataFrame({"unit": ids, "time": 2000 + t, "d": d, "y": y, "region": ids % 37})


def _general(df: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, **kw):  # type: ignore[no-untyped-def]
    """twfe with the closed forms switched off: the within transformation of the rows."""
    module = sys.modules["truelift.did.twfe"]
    with monkeypatch.context() as m:
        for name in ("balanced_twfe", "reordered_twfe", "grid_twfe"):
            m.setattr(module, name, lambda *a, **k: None)
        return twfe(df, **KW, **kw)


@pytest.mark.parametrize(
    "kw",
    [{}, {"fe_dof": "nested"}, {"cluster": "region"}, {"cluster": "region", "fe_dof": "nested"}],
)
@pytest.mark.parametrize("order", ["sorted", "shuffled", "unbalanced"])
def test_closed_form_equals_general_path(kw, order, monkeypatch):
    # sorted: read in place (_panel.balanced_twfe); shuffled: scattered into unit-major order
    # (_panel.reordered_twfe); unbalanced (15 % of rows dropped): the grid (_grid.grid_twfe)
    df = _panel()
    if order != "sorted":
        df = df.sample(frac=1.0 if order == "shuffled" else 0.85, random_state=3)
    sorted_fit = balanced_twfe(df, "y", "unit", "time", "d", kw.get("cluster"), "full")
    assert (sorted_fit is not None) == (order == "sorted")
    module, taken = sys.modules["truelift.did.twfe"], {}
    with monkeypatch.context() as m:
        for name in ("reordered_twfe", "grid_twfe"):
            real = getattr(module, name)
            m.setattr(module, name, lambda *a, f=real, k=name: taken.setdefault(k, f(*a)))
        fast = twfe(df, **KW, **kw)
    used = {k for k, v in taken.items() if v is not None}
    assert (
        used
        == {"sorted": set(), "shuffled": {"reordered_twfe"}, "unbalanced": {"grid_twfe"}}[order]
    )
    slow = _general(df, monkeypatch, **kw)
    assert fast.estimate == pytest.approx(slow.estimate, rel=1e-10)
    assert fast.std_error == pytest.approx(slow.std_error, rel=1e-10)
    assert fast.params["n_clusters"] == slow.params["n_clusters"]
    assert fast.inference == slow.inference  # same K and G
    for name in ("negative TWFE weights", "number of clusters"):
        a, b = fast.diagnostic(name), slow.diagnostic(name)
        assert a.verdict == b.verdict and a.value == pytest.approx(b.value, rel=1e-10)
    ga, gb = fast.details["group_means"], slow.details["group_means"]
    assert ga["times"] == gb["times"] and ga["cohorts"] == gb["cohorts"]
    np.testing.assert_allclose(ga["means"], gb["means"], rtol=1e-12)
    np.testing.assert_allclose(ga["counterfactual"], gb["counterfactual"], rtol=1e-10)


def test_closed_form_against_long_double():
    df = _panel(units=400, periods=6, seed=1)
    N, T = 400, 6
    Y = df.y.to_numpy().reshape(N, T).astype(np.longdouble)
    D = df.d.to_numpy().reshape(N, T).astype(np.longdouble)

    def within(A):  # type: ignore[no-untyped-def]
        A = A - A.mean(axis=1, keepdims=True)
        return A - A.mean(axis=0, keepdims=True)

    x, yt = within(D), within(Y)
    beta = (x * yt).sum() / (x * x).sum()
    score = (x * (yt - beta * x)).sum(axis=1)  # per unit (the clusters)
    K = 1 + N + T - 1  # fe_dof="full"
    factor = (N / (N - 1)) * ((N * T - 1) / (N * T - K))
    se = np.sqrt(factor * (score**2).sum()) / (x * x).sum()
    e = twfe(df, **KW)
    assert e.estimate == pytest.approx(float(beta), rel=1e-12)
    assert e.std_error == pytest.approx(float(se), rel=1e-12)


@pytest.mark.parametrize("kind", ["bool", "float", "int32"])
def test_treatment_dtypes(kind):
    df = _panel()
    base = twfe(df, **KW)
    other = df.assign(d=df.d.astype({"bool": bool, "float": float, "int32": np.int32}[kind]))
    assert balanced_twfe(other, "y", "unit", "time", "d", None, "full") is not None
    assert twfe(other, **KW).estimate == base.estimate


def test_what_falls_back():
    df = _panel()
    assert balanced_twfe(df, "y", "unit", "time", "d", None, "full") is not None
    switching = df.copy()
    last = np.flatnonzero((df.time == 2008) & (df.d == 1) & (df.d.shift(1) == 1))[0]
    switching.loc[switching.index[last], "d"] = 0  # a unit leaves treatment in its last period
    cases = {
        "unbalanced": df.drop(index=[5]),
        "switching": switching,
        "string unit": df.assign(unit=df.unit.astype(str)),
        "missing outcome": df.assign(y=df.y.where(df.index != 9)),
        "not 0/1": df.assign(d=df.d * 2),
        "cluster within unit": df.assign(region=np.arange(len(df)) % 5),
    }
    for name, data in cases.items():
        cl = "region" if name == "cluster within unit" else None
        assert balanced_twfe(data, "y", "unit", "time", "d", cl, "full") is None, name
    # and the general path then decides: a switching treatment runs with a warning
    assert any("switches off" in w for w in twfe(switching, **KW).warnings)
    with pytest.warns(MissingDataWarning):
        missing = twfe(cases["missing outcome"], **KW, missing="drop")
    assert missing.n_dropped == 1


def test_direct_two_way_equals_iteration():
    # unbalanced panel with few periods: the direct solve (_fe._two_way) against alternating
    # projections run to 1e-13 (forced with a layout that offers no direct solve)
    from truelift.did._fe import demean, panel_layout

    rng = np.random.default_rng(4)
    n = 5000
    a, b = rng.integers(0, 900, n), rng.integers(0, 12, n)
    M = np.column_stack([rng.normal(size=n) + 0.3 * a % 7, rng.normal(size=n) + b])
    layout = panel_layout([a, b])
    assert layout[2] is not None  # the direct solve applies
    direct = demean(M, [a, b], layout=layout)
    iterated = demean(M, [a, b], layout=(False, None, None), tol=1e-13)
    np.testing.assert_allclose(direct, iterated, atol=1e-10)
    # two disconnected halves (units 0-449 only in periods 0-5, the rest only in 6-11)
    b2 = np.where(a < 450, b % 6, 6 + b % 6)
    np.testing.assert_allclose(
        demean(M, [a, b2]), demean(M, [a, b2], layout=(False, None, None), tol=1e-13), atol=1e-10
    )


@pytest.mark.parametrize("absorbing", [True, False])
def test_adoption_table_against_a_loop(absorbing):
    # _common.adoption (unit x period table) against a per-unit loop on an unbalanced panel
    from truelift.did._common import adoption

    rng = np.random.default_rng(5)
    unit, tcode = np.repeat(np.arange(300), 8), np.tile(np.arange(8), 300)
    keep = rng.random(unit.size) > 0.2
    start = rng.choice([0, 2, 5, 99], size=300)
    d = (tcode >= start[unit]).astype(float)
    if not absorbing:
        d[np.flatnonzero(d == 1)[3]] = 0.0
    unit, tcode, d = unit[keep], tcode[keep], d[keep]
    first, ok = adoption(unit, tcode, d)
    for i in range(300):
        t_on = tcode[(unit == i) & (d == 1)]
        assert first[i] == (t_on.min() if t_on.size else -1)
    assert ok is absorbing
