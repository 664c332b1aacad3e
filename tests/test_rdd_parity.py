"""Parity of truelift.rdd with the authors' packages rdrobust 2.1.1 and rddensity 3.0.

Reference numbers: tests/reference/rdd_reference.json, written by
tests/reference/make_rdd_reference.py (rdrobust/rddensity run on the data sets of
tests/reference/rdd_datasets.py). Tolerance 1e-6 (the issue's bar): both sides do the same
floating-point algebra; the observed differences are below 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import truelift
from tests.reference import rdd_datasets as ds
from truelift.rdd import density_test, rdd
from truelift.rdd.density import density_test_arrays

REF = json.loads((Path(__file__).parent / "reference" / "rdd_reference.json").read_text())
TOL = 1e-6  # issue 5's parity bar; the implementations agree to ~1e-10


@pytest.mark.parametrize(("case", "name", "kw"), ds.CASES, ids=[c[0] for c in ds.CASES])
def test_rdrobust_parity(case: str, name: str, kw: dict) -> None:
    ref = REF["rdrobust"][case]
    frame = pd.DataFrame(ds.make(name))
    e = rdd(frame, outcome="y", running="x", cutoff=0.0, diagnostics=False, **kw)
    p = e.params
    assert e.estimate == pytest.approx(ref["tau_cl"], abs=TOL)
    assert p["estimate_bias_corrected"] == pytest.approx(ref["tau_bc"], abs=TOL)
    assert p["se_conventional"] == pytest.approx(ref["se_cl"], abs=TOL)
    assert e.std_error == pytest.approx(ref["se_rb"], abs=TOL)
    assert [e.ci_low, e.ci_high] == pytest.approx(ref["ci_rb"], abs=TOL)
    assert p["ci_conventional"] == pytest.approx(ref["ci_cl"], abs=TOL)
    assert e.p_value == pytest.approx(ref["pv_rb"], abs=TOL)
    assert [p["h_left"], p["h_right"]] == pytest.approx(ref["h"], rel=TOL)
    assert [p["b_left"], p["b_right"]] == pytest.approx(ref["b"], rel=TOL)
    assert [p["n_effective_left"], p["n_effective_right"]] == ref["n_h"]
    assert [p["n_bias_left"], p["n_bias_right"]] == ref["n_b"]


@pytest.mark.parametrize("name", ds.DENSITY_CASES)
def test_rddensity_parity(name: str) -> None:
    ref = REF["rddensity"][name]
    r = density_test_arrays(ds.make_density(name), 0.0)
    assert r.statistic == pytest.approx(ref["t_jk"], abs=TOL)
    assert r.p_value == pytest.approx(ref["p_jk"], abs=TOL)
    assert [r.f_left, r.f_right] == pytest.approx([ref["f_left"], ref["f_right"]], abs=TOL)
    assert r.std_error == pytest.approx(ref["se_diff"], abs=TOL)
    assert [r.h_left, r.h_right] == pytest.approx(ref["h"], rel=TOL)
    assert [r.n_eff_left, r.n_eff_right] == ref["n_eff"]


@pytest.fixture(scope="module")
def saas() -> pd.DataFrame:
    return truelift.simulate("saas", n_users=50_000, seed=42).data


def test_saas_tutorial_rd(saas: pd.DataFrame) -> None:
    # The tutorials' RD (SIMULATOR.md): uniform window +-0.10, local linear, HC3:
    # +0.0548 (se 0.0131), n 21,689. Treatment (premium routing) is BELOW the cut-off, so
    # truelift's estimate is rdrobust's (right minus left) with the sign flipped.
    e = rdd(
        saas,
        outcome="task_completed",
        running="query_confidence",
        cutoff=0.85,
        treated_side="below",
        kernel="uniform",
        bandwidth=0.10,
        vce="hc3",
        diagnostics=False,
    )
    ref = REF["rdrobust"]["saas_uniform_h010_hc3"]
    assert e.estimate == pytest.approx(-ref["tau_cl"], abs=TOL)
    assert e.params["se_conventional"] == pytest.approx(ref["se_cl"], abs=TOL)
    assert e.std_error == pytest.approx(ref["se_rb"], abs=TOL)
    assert [e.ci_low, e.ci_high] == pytest.approx(sorted(-v for v in ref["ci_rb"]), abs=TOL)
    assert round(e.estimate, 4) == 0.0548  # tutorial, 4 decimals
    assert round(e.params["se_conventional"], 4) == 0.0131  # tutorial HC3 SE, 4 decimals
    # rdrobust's window is closed (|x - c| <= h): 21,701 queries. The tutorial's open window
    # 0.75 < x < 0.95 drops the 12 queries whose rounded confidence sits exactly on an edge.
    n_eff = e.params["n_effective_left"] + e.params["n_effective_right"]
    assert n_eff == sum(ref["n_h"]) == 21_701
    x = saas["query_confidence"]
    strict = saas[(x > 0.75) & (x < 0.95)]
    assert len(strict) == 21_689
    e2 = rdd(
        strict,
        outcome="task_completed",
        running="query_confidence",
        cutoff=0.85,
        treated_side="below",
        kernel="uniform",
        bandwidth=0.10,
        vce="hc3",
        diagnostics=False,
    )
    assert round(e2.estimate, 4) == 0.0548 and round(e2.params["se_conventional"], 4) == 0.0131


def test_saas_default_and_density(saas: pd.DataFrame) -> None:
    e = rdd(
        saas, outcome="task_completed", running="query_confidence", cutoff=0.85, diagnostics=False
    )
    ref = REF["rdrobust"]["saas_default"]  # rdrobust defaults (mserd, triangular, nn)
    assert e.estimate == pytest.approx(ref["tau_cl"], abs=TOL)
    assert e.std_error == pytest.approx(ref["se_rb"], abs=TOL)
    assert [e.params["h_left"], e.params["h_right"]] == pytest.approx(ref["h"], rel=TOL)
    d = density_test(saas, running="query_confidence", cutoff=0.85)
    assert d.params["statistic"] == pytest.approx(REF["rddensity"]["saas"]["t_jk"], abs=TOL)
    assert d.p_value == pytest.approx(REF["rddensity"]["saas"]["p_jk"], abs=TOL)
    assert [d.params["h_left"], d.params["h_right"]] == pytest.approx(
        REF["rddensity"]["saas"]["h"], rel=TOL
    )
    assert np.isfinite(d.std_error)
