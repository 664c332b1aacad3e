"""The command line: simulate, version, demo, and one-line typed errors."""

from __future__ import annotations

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
    back = read_table(path)
    expected = truelift.simulate("saas", n_users=500, seed=42).data
    assert back.shape == expected.shape
    pd.testing.assert_series_equal(
        back["task_completed"], expected["task_completed"], check_dtype=False
    )


def test_demo_writes_self_contained_html(tmp_path):
    path = tmp_path / "report.html"
    out = runner.invoke(app, ["demo", "--out", str(path), "--n-users", "5000"])
    assert out.exit_code == 0, out.stdout
    html = path.read_text()
    assert "<svg" in html and "<script" not in html
    assert 'href="http' not in html and "src=" not in html  # nothing fetched from a network
    assert "opt-in trap" in html


def test_typed_error_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["truelift", "simulate", "--out", str(tmp_path / "x.txt")])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
