"""analyze(): dispatch, the headline policy, refusals, and the report writers."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pandas as pd
import pytest

import truelift
import truelift.advisor
from truelift.analysis import DESIGNS, analyze
from truelift.report.analysis import write_report
from truelift.result import Diagnostic, Estimate


def _fake_estimator(data, *, treatment, outcome, verdict="pass", consequence="block"):
    """A stand-in design whose diagnostic verdict the test chooses (tests the policy, not a design)."""
    base = truelift.naive_difference(data, treatment=treatment, outcome=outcome)
    diag = Diagnostic("assumption", verdict, 0.5, "< 0.1", "Fix the thing.", consequence)
    return Estimate(
        **{
            **{
                f: getattr(base, f)
                for f in (
                    "estimate",
                    "std_error",
                    "ci_low",
                    "ci_high",
                    "conf_level",
                    "p_value",
                    "n_obs",
                    "n_dropped",
                    "estimand",
                    "method",
                )
            },
            "params": {"design": "fake"},
            "diagnostics": (diag,),
        }
    )


@pytest.fixture
def fake_design(monkeypatch):
    module = types.ModuleType("truelift_fake_design")
    module.fit = _fake_estimator
    monkeypatch.setitem(sys.modules, "truelift_fake_design", module)
    monkeypatch.setitem(DESIGNS, "fake", ("truelift_fake_design", "fit", ()))


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    t = rng.binomial(1, 0.5, 500)
    return pd.DataFrame({"t": t, "y": 0.3 * t + rng.normal(size=500)})


def test_pass_reports_the_headline_with_naive_and_truth(fake_design, data):
    a = analyze(data, design="fake", treatment="t", outcome="y", truth=0.3)
    assert a.status == "ok" and a.headline == pytest.approx(a.naive.estimate)
    assert "CI" in a.message and a.truth == 0.3
    assert json.dumps(a.to_dict(), allow_nan=False)


def test_blocking_failure_withholds_the_headline(fake_design, data):
    a = analyze(data, design="fake", treatment="t", outcome="y", verdict="fail")
    assert a.status == "withheld" and a.headline is None
    assert a.message.startswith("No headline number") and "Fix the thing." in a.message


def test_downgrading_failure_keeps_the_number_with_a_caveat(fake_design, data):
    a = analyze(
        data, design="fake", treatment="t", outcome="y", verdict="fail", consequence="downgrade"
    )
    assert a.status == "downgraded" and a.headline is not None
    assert a.message.startswith("Downgraded")


def test_not_identifiable_returns_no_number(data):
    a = analyze(data, facts=truelift.advisor.RolloutFacts(opt_in=True), treatment="t", outcome="y")
    assert a.result is None and a.status == "not identifiable"
    assert "You would need" in a.message


def test_bad_design_and_options(fake_design, data):
    with pytest.raises(truelift.DesignError, match="design must be one of"):
        analyze(data, design="magic", treatment="t", outcome="y")
    with pytest.raises(truelift.DesignError, match="has no option 'colour'"):
        analyze(data, design="fake", treatment="t", outcome="y", colour="red")
    with pytest.raises(truelift.DesignError, match="estimator for design"):
        analyze(data, design="fake", estimator="nope", treatment="t", outcome="y")


@pytest.mark.parametrize("ext", ["html", "md", "json"])
def test_write_report_formats(fake_design, data, tmp_path, ext):
    analyses = [
        analyze(data, design="fake", treatment="t", outcome="y", truth=0.3),
        analyze(data, design="fake", treatment="t", outcome="y", verdict="fail"),
    ]
    path = write_report(analyses, tmp_path / f"r.{ext}")
    text = path.read_text()
    if ext == "json":
        assert [a["status"] for a in json.loads(text)] == ["ok", "withheld"]
    else:
        assert "No headline number" in text
    if ext == "html":
        assert "<script" not in text and "<svg" in text
    with pytest.raises(truelift.DataError):
        write_report(analyses, tmp_path / "r.pdf")
