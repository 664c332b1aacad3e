"""The demo's cases end to end: advisor -> analyze -> headline policy, against the simulator's truth.

Truths come from the simulator (``Simulation.truths``); seed 42 is the demo's seed.
"""

from __future__ import annotations

import pytest

from truelift.report.overview import CASES, FAILURES, run_case

SEED = 42


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_each_rollout_gets_its_design_and_covers_the_truth(case):
    a = run_case(case, seed=SEED)
    if case.facts.single_treated_unit and case.facts.donor_pool is False:
        assert a.status == "not identifiable" and a.headline is None
        assert "Not identifiable" in a.message and a.recommendation is not None
        assert a.recommendation.needed  # says what data would identify it
        return
    assert a.status == "ok", a.message
    main = a.main
    assert main is not None and a.truth is not None
    # a 95% interval from one seed: it should cover the simulator's truth; widened by one SE
    # so that a single unlucky draw (5% per case) does not make the demo's regression test flaky
    slack = main.std_error
    assert main.ci_low - slack <= a.truth <= main.ci_high + slack, (a.truth, main.summary())


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: c.breaks)
def test_each_broken_assumption_changes_the_headline(case):
    a = run_case(case, seed=SEED)
    assert a.status in ("withheld", "downgraded"), a.message
    failed = [d.name for d in a.result.diagnostics if d.verdict == "fail"]
    assert case.breaks in failed, failed  # the check that tests the broken assumption fails
    assert "failed" in a.message or "Downgraded" in a.message
