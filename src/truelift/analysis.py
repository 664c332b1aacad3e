"""``analyze``: one entry point that picks (or takes) the design, runs its estimator with all its
diagnostics and its sensitivity analysis, and applies the headline policy.

Policy: a ``fail`` verdict with consequence ``"block"`` withholds the headline number; one with
``"downgrade"`` keeps it marked unreliable; in both cases the analysis says which check failed and
what to do next. A design that is not identified returns no number and says what data would
identify it. Nothing is silently dropped: rows dropped for missing values are counted in the result.
"""

from __future__ import annotations

import html
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from truelift.advisor import Recommendation, RolloutFacts, detect_design, recommend
from truelift.errors import DesignError, EagerTableRequired, TrueliftError
from truelift.naive import naive_difference
from truelift.result import Estimate, EstimateSet, jsonable

__all__ = ["DESIGNS", "Analysis", "analyze"]

# design -> (module, default estimator, other estimators of the design)
DESIGNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "experiment": ("truelift.experiment", "ab_test", ("switchback",)),
    "iv": ("truelift.iv", "iv", ()),
    "did": ("truelift.did", "did", ("did_2x2", "twfe", "event_study")),
    "propensity": ("truelift.propensity", "aipw", ("ipw", "match")),
    "rdd": ("truelift.rdd", "rdd", ()),
    "synth": ("truelift.synth", "synth", ()),
    "uplift": ("truelift.uplift", "heterogeneity_test", ("policy_value",)),
}
_ALIASES = {"treatment": ("variant",), "variant": ("treatment",)}


@dataclass(frozen=True)
class Analysis:
    """A design's answer to one question, with the policy applied.

    ``result`` is ``None`` when the effect is not identifiable; ``headline`` is then ``None`` and
    ``message`` says what data would identify it. ``truth`` is set on simulated data.
    """

    question: str
    design: str
    estimator: str | None
    result: Estimate | EstimateSet | None
    recommendation: Recommendation | None = None
    naive: Estimate | None = None
    sensitivity: Any = None
    truth: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    data_note: str | None = None  # how the data were read, when rows had to leave an engine

    @property
    def main(self) -> Estimate | None:
        """The estimate that answers the question (the set's headline for an EstimateSet)."""
        if isinstance(self.result, EstimateSet):
            return self.result.headline_estimate
        return self.result

    @property
    def status(self) -> Literal["ok", "downgraded", "withheld", "not identifiable"]:
        if self.result is None:
            return "not identifiable"
        return self.result.status

    @property
    def headline(self) -> float | None:
        main = self.main
        return None if main is None or self.status == "withheld" else main.estimate

    @property
    def message(self) -> str:
        """One sentence: the headline, or why there is none and what to do."""
        if self.result is None:
            rec = self.recommendation
            needed = "; ".join(rec.needed) if rec else "a design that identifies the effect"
            return f"Not identifiable with these data. You would need: {needed}."
        main = self.main
        failed = [d for d in _all_diagnostics(self.result) if d.verdict == "fail"]
        why = " ".join(f"{d.name}: {d.message}" for d in failed)
        if self.status == "withheld":
            return f"No headline number: a check that invalidates this design failed. {why}"
        if main is None:
            return "The analysis returned several estimates and no single headline; see the table."
        text = (
            f"{main.estimate:+.4g} ({100 * main.conf_level:g}% CI {main.ci_low:+.4g} to "
            f"{main.ci_high:+.4g}); {main.estimand}."
        )
        if self.status == "downgraded":
            text = f"Downgraded: {text} A check failed, so read it with care. {why}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "question": self.question,
                "design": self.design,
                "estimator": self.estimator,
                "status": self.status,
                "headline": self.headline,
                "message": self.message,
                "truth": self.truth,
                "data_note": self.data_note,
                "params": dict(self.params),
                "recommendation": self.recommendation.to_dict() if self.recommendation else None,
                "result": self.result.to_dict() if self.result is not None else None,
                "naive": self.naive.to_dict() if self.naive is not None else None,
                "sensitivity": _as_dict(self.sensitivity),
            }
        )

    def summary(self, format: Literal["text", "markdown", "html"] = "text") -> str:
        parts = [
            f"Question: {self.question}",
            f"Design: {self.design} ({self.estimator})",
            f"Answer: {self.message}",
        ]
        if self.truth is not None:
            parts.append(f"Truth (simulated data): {self.truth:+.4g}")
        if self.data_note is not None:
            parts.append(f"Data: {self.data_note}")
        main = self.main
        if main is not None and main.params.get("engine") not in (None, "in-memory"):
            moved = (main.details or {}).get("transferred")
            parts.append(
                f"Engine: {main.params['engine']}" + (f"; what left it: {moved}" if moved else "")
            )
        if format == "html":
            head = "".join(f"<p>{html.escape(p)}</p>" for p in parts)
            body = self.result.summary("html") if self.result is not None else ""
            return f"<div class='truelift-analysis'>{head}{body}</div>"
        sep = "\n\n" if format == "markdown" else "\n"
        body = self.result.summary(format) if self.result is not None else ""
        return sep.join(parts) + ("\n\n" + body if body else "")

    def __str__(self) -> str:
        return self.summary("text")

    def _repr_html_(self) -> str:
        return self.summary("html")


def _as_dict(obj: Any) -> Any:
    if obj is None:
        return None
    return obj.to_dict() if hasattr(obj, "to_dict") else jsonable(obj)


def _all_diagnostics(result: Estimate | EstimateSet) -> list[Any]:
    diags = list(result.diagnostics)
    if isinstance(result, EstimateSet) and result.headline_estimate is not None:
        diags += list(result.headline_estimate.diagnostics)
    return diags


def _estimator(design: str, name: str | None) -> tuple[str, Callable[..., Any]]:
    if design not in DESIGNS:
        raise DesignError(f"design must be one of {sorted(DESIGNS)}; got {design!r}.")
    module_name, default, others = DESIGNS[design]
    name = name or default
    if name not in (default, *others):
        raise DesignError(
            f"estimator for design {design!r} must be one of {[default, *others]}; got {name!r}."
        )
    try:
        module = importlib.import_module(module_name)
        return name, getattr(module, name)
    except (ImportError, AttributeError) as exc:
        raise DesignError(f"the {design!r} design's estimator {name!r} is not available.") from exc


def _fit_kwargs(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    accepted = set(inspect.signature(fn).parameters)
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        target = (
            key
            if key in accepted
            else next((a for a in _ALIASES.get(key, ()) if a in accepted), None)
        )
        if target is None:
            raise DesignError(
                f"{fn.__name__}() has no option {key!r}; its options are "
                f"{sorted(accepted - {'data'})}."
            )
        out[target] = value
    return out


def _sensitivity(
    design: str, result: Estimate | EstimateSet, data: Any, kwargs: Mapping[str, Any]
) -> Estimate | None:
    """Sensitivity to unobserved confounding where the design rests on "no unobserved confounder".

    Propensity designs get the Cinelli–Hazlett robustness values and E-value of the adjusted
    regression on the same covariates (``truelift.sensitivity.sensitivity``). The other designs
    carry their sensitivity analyses as diagnostics (pre-trend bounds, bandwidth and donut
    checks, placebos, weak-instrument-robust sets), so nothing is added here.
    """
    if design != "propensity" or not isinstance(result, Estimate):
        return None
    from truelift.sensitivity import sensitivity

    covs = kwargs.get("covariates")
    if not covs or not isinstance(kwargs.get("treatment"), str):
        return None
    return sensitivity(
        data,
        treatment=kwargs["treatment"],
        outcome=kwargs["outcome"],
        covariates=covs,
        missing=kwargs.get("missing", "raise"),
    )


def analyze(
    data: Any,
    *,
    design: str | None = None,
    estimator: str | None = None,
    question: str | None = None,
    facts: RolloutFacts | None = None,
    truth: float | None = None,
    **kwargs: Any,
) -> Analysis:
    """Run a design end to end: recommendation (unless ``design`` is given), the estimator with its
    diagnostics, the naive comparison beside it, sensitivity, and the headline policy.

    Keyword arguments not listed here go to the design's estimator (``treatment``/``variant`` are
    interchangeable). ``truth`` (simulated data) is shown beside the estimate in reports.
    """
    rec: Recommendation | None = None
    if design is None:
        if facts is not None:
            rec = recommend(facts)
        else:
            if "treatment" not in kwargs:
                raise DesignError(
                    "give design=..., facts=..., or at least treatment= to detect one."
                )
            cov = kwargs.get("covariates")
            rec = detect_design(
                _eager(data, kwargs),
                treatment=kwargs["treatment"],
                covariates=cov,
                scores=[kwargs["running"]] if "running" in kwargs else None,
                unit=kwargs.get("unit"),
                time=kwargs.get("time"),
            ).recommend()
        design = rec.design
    q = (
        question
        or f"What did {kwargs.get('treatment', kwargs.get('variant', 'the feature'))} do to {kwargs.get('outcome', 'the outcome')}?"
    )
    if design == "none":
        return Analysis(q, "none", None, None, recommendation=rec, truth=truth, params=dict(kwargs))
    name, fn = _estimator(design, estimator)
    fit_kwargs = _fit_kwargs(fn, kwargs)
    note = None
    try:
        result = fn(data, **fit_kwargs)
    except EagerTableRequired:
        data, note = _collect_named(data, name, kwargs)
        result = fn(data, **fit_kwargs)
    try:
        sens = _sensitivity(design, result, data, kwargs)
    except EagerTableRequired:  # the sensitivity regression needs rows: collect, and say so
        small, more = _collect_named(data, "sensitivity", kwargs)
        sens = _sensitivity(design, result, small, kwargs)
        note = more if note is None else f"{note} {more}"
    naive = None
    treat = kwargs.get("treatment", kwargs.get("variant"))
    if isinstance(treat, str) and isinstance(kwargs.get("outcome"), str):
        try:
            naive = naive_difference(
                data,
                treatment=treat,
                outcome=kwargs["outcome"],
                missing=kwargs.get("missing", "raise"),
            )
        except TrueliftError:
            naive = None  # the treatment is not a binary column (e.g. multi-arm variant)
    return Analysis(
        q,
        design,
        name,
        result,
        recommendation=rec,
        naive=naive,
        sensitivity=sens,
        truth=truth,
        params=dict(kwargs),
        data_note=note,
    )


def _collect_named(data: Any, estimator: str, kwargs: Mapping[str, Any]) -> tuple[Any, str]:
    """Collect only the columns named in ``kwargs`` from a lazy table, and say so.

    For estimators without an engine path (they need rows). Nothing is sampled or dropped here.
    """
    from truelift.engines import collect_columns, engine_name, lazy_frame

    lf = lazy_frame(data)
    if lf is None:  # not lazy: the estimator rejected the table type itself
        raise EagerTableRequired(
            f"{estimator}() needs a pandas, polars or pyarrow table; got {type(data).__name__}."
        )
    names = set(lf.collect_schema().names())
    wanted: list[str] = []
    for value in kwargs.values():
        for v in value if isinstance(value, list | tuple) else [value]:
            if isinstance(v, str) and v in names and v not in wanted:
                wanted.append(v)
    table = collect_columns(lf, wanted)
    n = len(table)
    note = (
        f"{estimator}() has no engine path, so {n:,} rows of {len(wanted)} column(s) "
        f"({', '.join(wanted)}) were collected from {engine_name(lf)}; nothing was sampled."
    )
    return table, note


def _eager(data: Any, kwargs: Mapping[str, Any]) -> Any:
    """The named columns of a lazy table, collected (design detection reads values); else data."""
    from truelift.engines import lazy_frame

    if lazy_frame(data) is None:
        return data
    return _collect_named(data, "detect_design", kwargs)[0]
