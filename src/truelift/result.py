"""The one result shape every design returns.

:class:`Estimate` is a frozen record of one causal estimate with its uncertainty, the estimand in
words, the resolved options and the diagnostics (each a :class:`Diagnostic` with a verdict).
:class:`EstimateSet` holds several labelled estimates (an event study, per-segment effects, several
metrics) with the same methods. A result never holds a copy of the data: ``details`` carries only
small summaries (coefficients per period, binned means) that plots and reports need.

Headline policy: a diagnostic that fails carries a consequence. ``"block"`` withholds the headline
number (``status == "withheld"``); ``"downgrade"`` keeps it but marks it unreliable
(``status == "downgraded"``). The renderers say why and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from truelift import _render

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Diagnostic", "Estimate", "EstimateSet", "Format", "Status", "Verdict", "jsonable"]

Verdict = Literal["pass", "warn", "fail"]
Consequence = Literal["none", "downgrade", "block"]
Status = Literal["ok", "downgraded", "withheld"]
Format = Literal["text", "markdown", "html"]

_VERDICTS = ("pass", "warn", "fail")
_CONSEQUENCES = ("none", "downgrade", "block")


@dataclass(frozen=True)
class Diagnostic:
    """One assumption check with its verdict.

    Attributes:
        name: short name, e.g. ``"sample ratio mismatch"``.
        verdict: ``"pass"``, ``"warn"`` or ``"fail"``.
        value: the figure behind the verdict (a p-value, an SMD, an RMSPE ratio), or ``None``.
        threshold: the rule the figure was held to, in words, e.g. ``"p >= 0.001"``.
        message: what was found and, when it did not pass, what to do.
        consequence: what a ``fail`` does to the headline: ``"none"``, ``"downgrade"``, ``"block"``.
        details: small JSON-able extras (a balance table, per-level figures).
    """

    name: str
    verdict: Verdict
    value: float | None
    threshold: str
    message: str
    consequence: Consequence = "downgrade"
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in _VERDICTS:
            raise ValueError(f"verdict must be one of {_VERDICTS}; got {self.verdict!r}")
        if self.consequence not in _CONSEQUENCES:
            raise ValueError(
                f"consequence must be one of {_CONSEQUENCES}; got {self.consequence!r}"
            )

    @property
    def effective_consequence(self) -> Consequence:
        """The consequence in force: only a failed check changes the headline."""
        return self.consequence if self.verdict == "fail" else "none"

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "name": self.name,
                "verdict": self.verdict,
                "value": self.value,
                "threshold": self.threshold,
                "message": self.message,
                "consequence": self.consequence,
                "details": dict(self.details),
            }
        )


def _status(diagnostics: tuple[Diagnostic, ...]) -> Status:
    effects = {d.effective_consequence for d in diagnostics}
    if "block" in effects:
        return "withheld"
    if "downgrade" in effects:
        return "downgraded"
    return "ok"


class _Renderable:
    """Shared rendering and export methods of :class:`Estimate` and :class:`EstimateSet`."""

    def summary(self, format: Format = "text") -> str:
        """Render the result as ``"text"``, ``"markdown"`` or ``"html"``."""
        if format not in ("text", "markdown", "html"):
            raise ValueError(f"format must be 'text', 'markdown' or 'html'; got {format!r}")
        return _render.render(self, format)

    def __str__(self) -> str:
        return self.summary("text")

    def _repr_html_(self) -> str:
        return self.summary("html")

    def _repr_markdown_(self) -> str:
        return self.summary("markdown")

    def plot(self, **kwargs: Any) -> Any:
        """Plot the result (delegates to :mod:`truelift.plot`); returns a matplotlib Figure."""
        from truelift import plot as _plot  # plotting is a layer above results

        return _plot.plot_result(self, **kwargs)


@dataclass(frozen=True, repr=False)
class Estimate(_Renderable):
    """One causal estimate with its uncertainty and diagnostics.

    ``estimate`` is the point estimate; ``ci_low``/``ci_high`` the interval at ``conf_level``
    (``inference`` says where it comes from, e.g. influence-function normal interval, robust
    bias-corrected, Anderson–Rubin); ``estimand`` states exactly which effect, in words.
    """

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    conf_level: float
    p_value: float
    n_obs: int
    n_dropped: int
    estimand: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    warnings: tuple[str, ...] = ()
    inference: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.conf_level < 1:
            raise ValueError(f"conf_level must lie in (0, 1); got {self.conf_level}")
        object.__setattr__(self, "diagnostics", tuple(self.diagnostics))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def __repr__(self) -> str:
        return (
            f"Estimate(estimate={self.estimate:.6g}, std_error={self.std_error:.4g}, "
            f"ci=[{self.ci_low:.6g}, {self.ci_high:.6g}], p_value={self.p_value:.4g}, "
            f"n_obs={self.n_obs}, method={self.method!r}, status={self.status!r})"
        )

    @property
    def status(self) -> Status:
        """``"ok"``, ``"downgraded"`` (a failed check casts doubt) or ``"withheld"`` (blocked)."""
        return _status(self.diagnostics)

    @property
    def headline(self) -> float | None:
        """The point estimate, or ``None`` when a failed diagnostic withholds it."""
        return None if self.status == "withheld" else self.estimate

    def diagnostic(self, name: str) -> Diagnostic:
        """The diagnostic called ``name`` (KeyError if there is none)."""
        for d in self.diagnostics:
            if d.name == name:
                return d
        raise KeyError(f"no diagnostic {name!r}; have {[d.name for d in self.diagnostics]}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite floats become ``None``)."""
        return jsonable(
            {
                "estimate": self.estimate,
                "std_error": self.std_error,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "conf_level": self.conf_level,
                "p_value": self.p_value,
                "n_obs": self.n_obs,
                "n_dropped": self.n_dropped,
                "estimand": self.estimand,
                "method": self.method,
                "inference": self.inference,
                "status": self.status,
                "params": dict(self.params),
                "diagnostics": [d.to_dict() for d in self.diagnostics],
                "warnings": list(self.warnings),
                "details": dict(self.details),
            }
        )

    def _row(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "std_error": self.std_error,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "conf_level": self.conf_level,
            "p_value": self.p_value,
            "n_obs": self.n_obs,
            "n_dropped": self.n_dropped,
            "estimand": self.estimand,
            "method": self.method,
            "status": self.status,
        }

    def to_frame(self) -> pd.DataFrame:
        """A one-row pandas DataFrame of the headline figures."""
        import pandas as pd

        return pd.DataFrame([self._row()])


@dataclass(frozen=True, repr=False)
class EstimateSet(_Renderable):
    """Several labelled estimates from one analysis (event-study periods, segments, metrics).

    ``headline`` names the label of the estimate that answers the main question, if any.
    Diagnostics here apply to the whole analysis.
    """

    title: str
    estimates: tuple[tuple[str, Estimate], ...]
    method: str
    headline: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimates", tuple((str(k), v) for k, v in self.estimates))
        labels = [k for k, _ in self.estimates]
        if len(set(labels)) != len(labels):
            raise ValueError(f"estimate labels must be unique; got {labels}")
        if self.headline is not None and self.headline not in labels:
            raise ValueError(f"headline {self.headline!r} is not one of the labels {labels}")
        object.__setattr__(self, "diagnostics", tuple(self.diagnostics))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def __repr__(self) -> str:
        return (
            f"EstimateSet({self.title!r}, {len(self.estimates)} estimates, status={self.status!r})"
        )

    def __len__(self) -> int:
        return len(self.estimates)

    def __iter__(self) -> Iterator[tuple[str, Estimate]]:
        return iter(self.estimates)

    def __getitem__(self, label: str) -> Estimate:
        for k, v in self.estimates:
            if k == label:
                return v
        raise KeyError(f"no estimate {label!r}; have {self.labels}")

    @property
    def labels(self) -> list[str]:
        return [k for k, _ in self.estimates]

    @property
    def headline_estimate(self) -> Estimate | None:
        return None if self.headline is None else self[self.headline]

    @property
    def status(self) -> Status:
        """Worst status of the set's own diagnostics and of its headline estimate."""
        own = list(self.diagnostics)
        if self.headline_estimate is not None:
            own += list(self.headline_estimate.diagnostics)
        return _status(tuple(own))

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "title": self.title,
                "method": self.method,
                "headline": self.headline,
                "status": self.status,
                "estimates": {k: v.to_dict() for k, v in self.estimates},
                "params": dict(self.params),
                "diagnostics": [d.to_dict() for d in self.diagnostics],
                "warnings": list(self.warnings),
                "details": dict(self.details),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate, labelled in the ``label`` column."""
        import pandas as pd

        return pd.DataFrame([{"label": k, **v._row()} for k, v in self.estimates])


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples, mappings and non-finite floats to JSON-safe values."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "to_dict") and callable(obj.to_dict) and not hasattr(obj, "dtype"):
        return jsonable(obj.to_dict())
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):  # numpy scalar or array
        return jsonable(tolist())
    return str(obj)
