"""Difference-in-differences designs: 2x2, two-way fixed effects, event study, the Goodman-Bacon
(2021) decomposition of TWFE, and staggered adoption (Callaway & Sant'Anna 2021)."""

from truelift.did.bacon import bacon
from truelift.did.event_study import event_study
from truelift.did.staggered import did
from truelift.did.twfe import twfe
from truelift.did.two_by_two import did_2x2

__all__ = ["bacon", "did", "did_2x2", "event_study", "twfe"]
