"""The naive comparison against published numbers."""

from __future__ import annotations

import pytest

import truelift
from tests.conftest import reference_csv


def test_opt_in_trap_on_saas(saas):
    est = truelift.naive_difference(
        saas.data, treatment="opt_in_agent_mode", outcome="task_completed"
    )
    # SIMULATOR.md prints the naive opt-in difference as +0.2106 (4 decimals)
    assert est.estimate == pytest.approx(0.2106, abs=5e-5)
    assert est.diagnostic("selection").verdict == "warn"


def test_hillstrom_mens_vs_control_visit_lift():
    d = reference_csv("hillstrom.csv")
    d = d[d["segment"].isin(["Mens E-Mail", "No E-Mail"])].copy()
    d["mens"] = (d["segment"] == "Mens E-Mail").astype(int)
    est = truelift.naive_difference(d, treatment="mens", outcome="visit")
    # Hillstrom (2008) reference: lift +0.07659 (se 0.00339); printed to 5 decimals
    assert est.estimate == pytest.approx(0.07659, abs=5e-6)
    assert est.std_error == pytest.approx(0.00339, abs=5e-6)
    assert est.n_obs == 21_307 + 21_306
