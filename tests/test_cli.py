"""The command line: simulate, version, demo, analyze, recommend, and one-line typed errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import truelift
from truelift.cli import app, main
from truelift.io import read_table

runner = CliRunner()


def test_version():
    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and truelift.__version__ in out.stdout


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_simulate_writes_the_table(tmp_path, ext):
    path = tmp_path / f"saas.{ext}"
    out = runner.invoke(
        app,
        ["simulate", "--scenario", "saas", "--seed", "42", "--n-users", "500", "--out", str(path)],
    )
    assert out.exit_code == 0, out.stdout
    back = read_table(path, engine="memory")
    expected = truelift.simulate("saas", n_users=500, seed=42).data
    assert back.shape == expected.shape
    pd.testing.assert_series_equal(
        back["task_completed"], expected["task_completed"], check_dtype=False
    )


def test_demo_writes_self_contained_html(demo_report):
    folder = demo_report
    html = (folder / "index.html").read_text()
    assert "<svg" in html and "<script" not in html
    assert 'href="http' not in html and "src=" not in html  # nothing fetched from a network
    assert "opt-in trap" in html
    analyses = json.loads((folder / "index.json").read_text())
    designs = {a["design"] for a in analyses}
    # every design the advisor can pick appears, and "not identifiable" is said where true
    assert designs == {"experiment", "propensity", "rdd", "did", "synth", "iv", "none"}
    assert all(a["truth"] is not None for a in analyses)
    assert (folder / "index.md").read_text().startswith("# truelift demo")
    assert "design answer vs truth" in (folder / "stdout.txt").read_text()
    # each deep-dive section appears once (sections add their own heading)
    assert html.count("<h2>Randomized experiments") == 1


@pytest.fixture(scope="module")
def saas_parquet(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "data.parquet"
    out = runner.invoke(
        app, ["simulate", "--scenario", "saas", "--n-users", "5000", "--out", str(path)]
    )
    assert out.exit_code == 0, out.stdout
    return path


def test_analyze_as_a_new_user_would(saas_parquet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["analyze", str(saas_parquet), "--design", "propensity"]
    args += ["--treatment", "opt_in_agent_mode", "--outcome", "task_completed"]
    args += ["--covariates", "engagement_tier,query_confidence"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.stdout
    assert "Answer:" in out.stdout and "Design: propensity (aipw)" in out.stdout
    assert "duckdb" in out.stdout  # read through DuckDB; the output says what left it
    report = (tmp_path / "truelift-report.html").read_text()
    assert "What would change this conclusion" in report  # sensitivity analysis ran


def test_analyze_typo_names_the_closest_column(saas_parquet, capsys, monkeypatch):
    argv = ["truelift", "analyze", str(saas_parquet), "--design", "propensity"]
    argv += ["--treatment", "opt_in_agent_mode", "--outcome", "task_completed"]
    argv += ["--covariates", "engagment_tier,query_confidence"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "engagment_tier" in err and "engagement_tier" in err


@pytest.mark.parametrize(
    ("flags", "design"),
    [
        (["--threshold"], "rdd"),
        (["--opt-in", "--drivers-observed"], "propensity"),
        (["--randomized", "--voluntary"], "iv"),
        (["--single-unit", "--no-pre-period"], "Not identifiable"),
    ],
)
def test_recommend_from_flags(flags, design):
    out = runner.invoke(app, ["recommend", *flags])
    assert out.exit_code == 0, out.stdout
    assert design in out.stdout


def test_typed_error_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["truelift", "simulate", "--out", str(tmp_path / "x.txt")])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_recommend_asks_in_a_terminal(monkeypatch):
    """No flags at a terminal: the questions, answered here as 'opt-in with observed drivers'."""
    from truelift import cli

    answers = {
        "Is the question who benefits (rather than the average effect)?": False,
        "Was access to the feature randomized?": False,
        "Did a score threshold decide who got it?": False,
        "Did it ship in waves (cohorts switching on at different times)?": False,
        "Was it launched to one product/region/platform all at once, with no holdout?": False,
        "Did users choose to turn it on (opt-in)?": True,
        "Do you observe what drives the choice (usage, tier, tenure...)?": True,
    }
    asked = []

    def confirm(text, default=False):
        asked.append(text)
        return answers[text]

    monkeypatch.setattr(cli.typer, "confirm", confirm)
    facts = cli._ask()
    assert asked == list(answers)
    assert truelift.recommend(**facts).design == "propensity"
