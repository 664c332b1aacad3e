"""The result contract: Estimate, EstimateSet, Diagnostic and their headline policy."""

from __future__ import annotations

import json

import pytest

from truelift import Diagnostic, Estimate, EstimateSet
from truelift.result import jsonable


def _est(**kw):
    base = dict(
        estimate=0.08,
        std_error=0.01,
        ci_low=0.06,
        ci_high=0.10,
        conf_level=0.95,
        p_value=1e-10,
        n_obs=100,
        n_dropped=0,
        estimand="ATE",
        method="ipw",
    )
    return Estimate(**{**base, **kw})


def _diag(verdict, consequence="downgrade", name="overlap"):
    return Diagnostic(name, verdict, 0.5, "< 0.1", "do X", consequence)


def test_status_follows_failed_diagnostics():
    assert _est().status == "ok"
    assert _est(diagnostics=(_diag("warn", "block"),)).status == "ok"
    assert _est(diagnostics=(_diag("fail"),)).status == "downgraded"
    blocked = _est(diagnostics=(_diag("fail", "block"), _diag("fail", name="b")))
    assert blocked.status == "withheld" and blocked.headline is None
    assert "WITHHELD" in blocked.summary() and "withheld" in blocked.summary("html")


def test_invalid_values_rejected():
    with pytest.raises(ValueError):
        Diagnostic("x", "maybe", None, "", "")
    with pytest.raises(ValueError):
        _est(conf_level=95)


def test_frozen_and_json_safe():
    e = _est(std_error=float("nan"), params={"arr": [1, 2]}, diagnostics=(_diag("pass"),))
    with pytest.raises(AttributeError):
        e.estimate = 1.0  # type: ignore[misc]
    d = json.loads(json.dumps(e.to_dict(), allow_nan=False))
    assert d["std_error"] is None and d["diagnostics"][0]["verdict"] == "pass"
    assert e.to_frame().shape[0] == 1


def test_html_escapes_user_strings():
    e = _est(method="<script>x</script>", diagnostics=(_diag("fail", name="<b>"),))
    html = e.summary("html")
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert "<b>" not in html


def test_estimate_set():
    s = EstimateSet(
        "event study",
        (("-1", _est()), ("0", _est(estimate=0.1))),
        "event study",
        headline="0",
        diagnostics=(_diag("fail"),),
    )
    assert len(s) == 2 and s["0"].estimate == 0.1 and s.labels == ["-1", "0"]
    assert s.status == "downgraded"
    assert list(s.to_frame()["label"]) == ["-1", "0"]
    assert json.dumps(s.to_dict(), allow_nan=False)
    for fmt in ("text", "markdown", "html"):
        assert "event study" in s.summary(fmt)
    with pytest.raises(KeyError):
        s["9"]
    with pytest.raises(ValueError):
        EstimateSet("x", (("a", _est()), ("a", _est())), "m")


def test_jsonable_numpy():
    np = pytest.importorskip("numpy")
    assert jsonable({"a": np.float64(1.5), "b": np.arange(2), "c": np.inf}) == {
        "a": 1.5,
        "b": [0, 1],
        "c": None,
    }


def test_plot_delegates_and_renders():
    fig = _est().plot(truth=0.08)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ipw"]
