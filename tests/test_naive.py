"""The naive comparison against published numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@given(
    a=st.floats(min_value=-100, max_value=100).filter(lambda v: abs(v) > 1e-3),
    b=st.floats(min_value=-1e3, max_value=1e3),
)
@settings(max_examples=25, deadline=None)
def test_affine_outcome_transform_scales_the_effect(a, b):
    # invariance: y -> a y + b multiplies the difference and its SE by a (|a| for the SE)
    rng = np.random.default_rng(3)
    t = rng.binomial(1, 0.4, 300)
    d = pd.DataFrame({"t": t, "y": t * 0.5 + rng.normal(size=300)})
    base = truelift.naive_difference(d, treatment="t", outcome="y")
    moved = truelift.naive_difference(d.assign(y=a * d["y"] + b), treatment="t", outcome="y")
    assert moved.estimate == pytest.approx(a * base.estimate, rel=1e-6, abs=1e-9)
    assert moved.std_error == pytest.approx(abs(a) * base.std_error, rel=1e-6)


def test_row_order_and_label_swap():
    rng = np.random.default_rng(4)
    t = rng.binomial(1, 0.4, 300)
    d = pd.DataFrame({"t": t, "y": t * 0.5 + rng.normal(size=300)})
    base = truelift.naive_difference(d, treatment="t", outcome="y")
    shuffled = truelift.naive_difference(
        d.sample(frac=1, random_state=1), treatment="t", outcome="y"
    )
    swapped = truelift.naive_difference(d.assign(t=1 - d["t"]), treatment="t", outcome="y")
    assert shuffled.estimate == pytest.approx(base.estimate, rel=1e-12)
    assert swapped.estimate == pytest.approx(-base.estimate, rel=1e-12)
    assert swapped.std_error == pytest.approx(base.std_error, rel=1e-12)
