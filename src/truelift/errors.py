"""Typed errors and warnings.

Every problem with user input raises a :class:`TrueliftError` subclass (a ``ValueError``) whose
message says what was found, why it matters and what to do. Warnings derive from
:class:`TrueliftWarning` so callers can filter them as a family.
"""

from __future__ import annotations

__all__ = [
    "ColumnNotFoundError",
    "ConvergenceError",
    "DataError",
    "DesignError",
    "DiagnosticWarning",
    "EagerTableRequired",
    "IdentificationError",
    "MissingDataWarning",
    "MissingValueError",
    "SeparationError",
    "TrueliftError",
    "TrueliftWarning",
]


class TrueliftError(ValueError):
    """Base class of every error truelift raises for user input or data."""


class ColumnNotFoundError(TrueliftError, KeyError):
    """A named column is not in the data.

    The message names the closest existing columns.
    """

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DataError(TrueliftError):
    """A column has the wrong type, values outside its domain, or too little variation."""


class EagerTableRequired(DataError):
    """The estimator has no engine path: it needs an in-memory table, not a lazy one.

    ``truelift.analyze`` (and the CLI) catch it and collect only the named columns, saying so.
    """


class MissingValueError(DataError):
    """Missing or non-finite values where ``missing="raise"`` (the default)."""


class DesignError(TrueliftError):
    """The options do not describe a valid design (e.g. an unknown option, a wrong combination)."""


class IdentificationError(TrueliftError):
    """The requested effect is not identified by these data (e.g. no overlap, no control group)."""


class ConvergenceError(TrueliftError):
    """A numerical fit did not converge."""


class SeparationError(ConvergenceError):
    """A logistic model is (quasi-)completely separated: a covariate predicts treatment exactly."""


class TrueliftWarning(UserWarning):
    """Base class of every warning truelift emits."""


class MissingDataWarning(TrueliftWarning):
    """Rows were dropped because of missing values (``missing="drop"``)."""


class DiagnosticWarning(TrueliftWarning):
    """A diagnostic did not pass; the result's headline may be downgraded."""
