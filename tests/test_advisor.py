"""The advisor: one test per branch of recommend(), and detect_design on simulated rollouts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import truelift
from truelift.advisor import RolloutFacts, detect_design, recommend


@pytest.mark.parametrize(
    ("facts", "design", "needle"),
    [
        ({"randomized": True}, "experiment", "ab_test"),
        ({"randomized": True, "randomization_unit": "workspace"}, "experiment", "cluster="),
        ({"randomized": True, "randomization_unit": "time_slot"}, "experiment", "switchback"),
        ({"randomized": True, "voluntary_use": True}, "iv", "instrument"),
        ({"threshold": True}, "rdd", "running"),
        ({"threshold": True, "voluntary_use": True}, "rdd", "treatment=<received>"),
        ({"waves": True, "pre_period": True}, "did", "control='never'"),
        ({"waves": True, "never_treated_group": False}, "did", "control='notyet'"),
        ({"single_treated_unit": True, "donor_pool": True, "pre_period": True}, "synth", "sdid"),
        ({"opt_in": True, "selection_drivers_observed": True}, "propensity", "aipw"),
        ({"randomized": True, "question": "who_benefits"}, "uplift", "uplift"),
    ],
)
def test_identifiable_branches(facts, design, needle):
    rec = recommend(**facts)
    assert rec.identifiable and rec.design == design
    assert needle in rec.estimator
    assert rec.reasons and rec.assumptions and rec.diagnostics
    for fmt in ("text", "markdown", "html"):
        assert rec.summary(fmt)
    assert json.loads(json.dumps(rec.to_dict(), allow_nan=False))["design"] == design


@pytest.mark.parametrize(
    "facts",
    [
        {},  # everyone at once, nothing to compare against
        {"opt_in": True, "selection_drivers_observed": False},
        {"single_treated_unit": True, "donor_pool": False},
        {"waves": True, "pre_period": False},
        {"opt_in": True, "question": "who_benefits"},
    ],
)
def test_not_identifiable_branches_say_what_is_needed(facts):
    rec = recommend(**facts)
    assert not rec.identifiable and rec.design == "none"
    assert rec.needed
    assert "Not identifiable with these data" in rec.summary()


def test_bad_facts_raise_typed_errors():
    with pytest.raises(truelift.DesignError, match="rollout facts"):
        recommend(randomised=True)
    with pytest.raises(truelift.DesignError, match="randomization_unit"):
        recommend(randomized=True, randomization_unit="team")
    with pytest.raises(truelift.DesignError):
        recommend(RolloutFacts(), randomized=True)


def test_detect_threshold_on_saas(saas):
    found = detect_design(
        saas.data, treatment="routed_to_premium", scores=["session_minutes", "query_confidence"]
    )
    assert found.facts.threshold and "0.85" in found.evidence[0]
    assert found.recommend().design == "rdd"


def test_detect_opt_in_on_saas(saas):
    found = detect_design(
        saas.data,
        treatment="opt_in_agent_mode",
        scores=["query_confidence"],
        covariates=["engagement_tier"],
    )
    assert found.facts.opt_in and found.recommend().design == "propensity"


def _panel(first: dict[int, int], periods: int = 6) -> pd.DataFrame:
    rows = [(u, t, int(g > 0 and t >= g)) for u, g in first.items() for t in range(periods)]
    return pd.DataFrame(rows, columns=["unit", "time", "d"])


def test_detect_staggered_waves():
    found = detect_design(_panel({0: 2, 1: 2, 2: 4, 3: 0}), treatment="d", unit="unit", time="time")
    assert found.facts.waves and found.facts.never_treated_group
    assert found.recommend().design == "did"


def test_detect_single_unit_launch():
    found = detect_design(_panel({0: 3, 1: 0, 2: 0}), treatment="d", unit="unit", time="time")
    assert found.facts.single_treated_unit and found.recommend().design == "synth"


def test_step_detection_rejects_a_noisy_split():
    rng = np.random.default_rng(0)
    s = rng.uniform(size=2000)
    d = pd.DataFrame({"s": s, "d": (s < 0.5).astype(int) ^ rng.binomial(1, 0.05, 2000)})
    assert not detect_design(d, treatment="d", scores=["s"]).facts.threshold
