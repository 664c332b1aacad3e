"""Difference-in-differences designs: 2x2, TWFE, event study, Goodman-Bacon decomposition and
staggered adoption (Callaway & Sant'Anna 2021)."""

from truelift.did.twfe import did_2x2, twfe

__all__ = ["did_2x2", "twfe"]
