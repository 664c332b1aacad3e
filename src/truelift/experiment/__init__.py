"""Randomized experiments: A/B/n readouts, CUPED / Lin adjustment, ratio metrics, cluster tests,
the sample-ratio-mismatch gate, power, sequential monitoring and switchback designs.

Papers: Neyman (1923); Lin (2013); Deng, Xu, Kohavi & Walker (2013, CUPED); Deng, Knoblich & Lu
(2018, delta method); Fabijan et al. (2019, SRM); Howard, Ramdas, McAuliffe & Sekhon (2021) and
Waudby-Smith et al. (2023, confidence sequences); Johari, Koomen, Pekelis & Walsh (2017, mSPRT);
Bojinov, Simchi-Levi & Zhao (2023, switchbacks); Newey & West (1987, HAC).
"""

from truelift.experiment.abtest import ab_test
from truelift.experiment.power import PowerInputs, PowerResult, power, power_inputs
from truelift.experiment.sequential import PeekingStudy, peeking_simulation, sequential_test
from truelift.experiment.srm import sample_ratio_mismatch, srm_check
from truelift.experiment.switchback import switchback

__all__ = [
    "PeekingStudy",
    "PowerInputs",
    "PowerResult",
    "ab_test",
    "peeking_simulation",
    "power",
    "power_inputs",
    "sample_ratio_mismatch",
    "sequential_test",
    "srm_check",
    "switchback",
]
