"""The advisor: from how a feature was rolled out to the design that identifies its effect.

``recommend(...)`` takes rollout facts (was access randomized, by what unit, was use voluntary,
did it ship in waves, through a score threshold, to one unit with no holdout, is there a
pre-period, are the drivers of opt-in observed) and returns a :class:`Recommendation`: the design,
the estimator to call, the reasons, the assumptions it rests on and the diagnostics that test them,
or "not identifiable with these data" with what data would make it so. It is deterministic: one
branch per row of the rollout -> design table in DESIGN.md.

``detect_design(data, ...)`` proposes the facts from the columns (a 0/1 column constant within
units that switches on at different times suggests a staggered rollout; a treatment that is a step
function of a score suggests a threshold; ...), each with the evidence behind it.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from truelift import _frame
from truelift.errors import DesignError
from truelift.result import jsonable

__all__ = ["DetectedFacts", "Recommendation", "RolloutFacts", "detect_design", "recommend"]

Unit = Literal["user", "workspace", "time_slot"]
Design = Literal["experiment", "iv", "did", "propensity", "rdd", "synth", "uplift", "none"]


@dataclass(frozen=True)
class RolloutFacts:
    """What is known about how the feature reached users (``None`` = unknown)."""

    randomized: bool | None = None
    randomization_unit: Unit | None = None
    voluntary_use: bool = False
    waves: bool = False
    never_treated_group: bool | None = None
    threshold: bool = False
    single_treated_unit: bool = False
    donor_pool: bool | None = None
    pre_period: bool | None = None
    opt_in: bool = False
    selection_drivers_observed: bool | None = None
    question: Literal["effect", "who_benefits"] = "effect"


@dataclass(frozen=True)
class Recommendation:
    """The advisor's answer: a design with its reasons, or "not identifiable" with what is needed."""

    design: Design
    estimator: str | None
    identifiable: bool
    reasons: tuple[str, ...]
    assumptions: tuple[str, ...]
    diagnostics: tuple[str, ...]
    needed: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    facts: RolloutFacts = field(default_factory=RolloutFacts)

    @property
    def headline(self) -> str:
        if not self.identifiable:
            return "Not identifiable with these data."
        return f"Use the {self.design} design: {self.estimator}."

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["headline"] = self.headline
        return jsonable(d)

    def _sections(self) -> list[tuple[str, tuple[str, ...]]]:
        return [
            ("Why", self.reasons),
            ("Assumptions it rests on", self.assumptions),
            ("Diagnostics that test them", self.diagnostics),
            ("What data would make it identifiable", self.needed),
            ("Alternatives", self.alternatives),
        ]

    def summary(self, format: Literal["text", "markdown", "html"] = "text") -> str:
        """Render as text, Markdown or HTML."""
        parts = [(title, items) for title, items in self._sections() if items]
        if format == "text":
            out = [self.headline]
            for title, items in parts:
                out += ["", f"{title}:"] + [f"  - {i}" for i in items]
            return "\n".join(out)
        if format == "markdown":
            out = [f"**{self.headline}**"]
            for title, items in parts:
                out += ["", f"*{title}*", ""] + [f"- {i}" for i in items]
            return "\n".join(out)
        if format == "html":
            e = html.escape
            body = "".join(
                f"<h4>{e(t)}</h4><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>"
                for t, items in parts
            )
            return f"<div class='truelift-recommendation'><p><strong>{e(self.headline)}</strong></p>{body}</div>"
        raise DesignError(f"format must be 'text', 'markdown' or 'html'; got {format!r}.")

    def __str__(self) -> str:
        return self.summary("text")

    def _repr_html_(self) -> str:
        return self.summary("html")


_OBSERVATIONAL_SENSITIVITY = "sensitivity to an unobserved confounder (E-value, robustness value)"


def _experiment(f: RolloutFacts) -> Recommendation:
    if f.voluntary_use:
        return Recommendation(
            "iv",
            "truelift.iv(data, outcome=..., treatment=<used>, instrument=<assigned>)",
            True,
            (
                "Access was randomized but use was voluntary: the assignment is a valid instrument "
                "for use, so the intent-to-treat effect and the effect on compliers are identified.",
            ),
            (
                "random assignment (instrument independent of potential outcomes)",
                "exclusion: assignment moves outcomes only through use",
                "monotonicity: nobody uses the feature because they were denied it",
            ),
            (
                "first-stage strength (effective F); a weak instrument switches to Anderson-Rubin",
                "sample-ratio mismatch of the assignment",
            ),
            facts=f,
            alternatives=("the ITT alone (ab_test on the assignment) if exclusion is doubtful",),
        )
    unit = f.randomization_unit or "user"
    what = {
        "user": (
            "Users were randomized: a difference in means is unbiased; CUPED / regression "
            "adjustment on pre-period covariates narrows the interval.",
            "truelift.ab_test(data, outcome=..., variant=..., covariates=<pre-period>)",
        ),
        "workspace": (
            "Workspaces were randomized: outcomes of users in one workspace are "
            "correlated and may spill over, so inference clusters by workspace.",
            "truelift.ab_test(data, outcome=..., variant=..., cluster='workspace_id')",
        ),
        "time_slot": (
            "Time slots were randomized (switchback): compare slots, allowing for "
            "carryover from the previous slot and autocorrelation (HAC SEs).",
            "truelift.switchback(data, outcome=..., treatment=..., time=...)",
        ),
    }[unit]
    checks = [
        "sample-ratio mismatch (blocks the readout when p < 0.001)",
        "covariate balance between arms",
    ]
    if unit == "workspace":
        checks.append("number of clusters (few clusters: wild cluster bootstrap)")
    if unit == "time_slot":
        checks.append("carryover between consecutive slots")
    return Recommendation(
        "experiment",
        what[1],
        True,
        (what[0],),
        (
            "random assignment at the stated unit",
            "no interference across randomization units",
            "the logged assignment is the assignment that was made",
        ),
        tuple(checks),
        facts=f,
    )


def _not_identifiable(f: RolloutFacts, why: str, needed: tuple[str, ...]) -> Recommendation:
    return Recommendation("none", None, False, (why,), (), (), needed, facts=f)


def _observational(f: RolloutFacts) -> Recommendation:
    if f.threshold:
        fuzzy = f.voluntary_use
        return Recommendation(
            "rdd",
            "truelift.rdd(data, outcome=..., running=<score>, cutoff=..."
            + (", treatment=<received>)" if fuzzy else ")"),
            True,
            (
                "A score threshold decided who got the feature: units just either side of the "
                "cut-off are comparable, so the jump in the outcome at the cut-off is the effect "
                "there" + (" (fuzzy: scaled by the jump in take-up)." if fuzzy else "."),
            ),
            (
                "no manipulation of the score around the cut-off",
                "other determinants of the outcome are continuous at the cut-off",
                "the effect is local to the cut-off",
            ),
            (
                "density test of the running variable (bunching blocks the headline)",
                "covariate continuity at the cut-off",
                "placebo cut-offs",
                "bandwidth sensitivity",
            ),
            facts=f,
        )
    if f.waves:
        if f.pre_period is False:
            return _not_identifiable(
                f,
                "A staged rollout without data from before the first wave "
                "leaves nothing to difference against.",
                ("outcomes for every unit in periods before its wave",),
            )
        control = "never" if f.never_treated_group is not False else "notyet"
        return Recommendation(
            "did",
            f"truelift.did(data, outcome=..., unit=..., time=..., cohort=..., control='{control}')",
            True,
            (
                "The feature reached groups in waves: units not yet (or never) treated show what "
                "would have happened, and Callaway-Sant'Anna avoids the bias of two-way fixed "
                "effects when effects grow with exposure.",
            )
            + (
                (
                    "There is no never-treated group: later waves serve as controls until they are "
                    "treated, and effects after the last wave are not identified.",
                )
                if control == "notyet"
                else ()
            ),
            (
                "parallel trends between cohorts absent the feature",
                "no anticipation",
                "treatment is absorbing (never switched off)",
            ),
            (
                "pre-trend test on pre-treatment ATT(g,t) (failure downgrades, with bounds)",
                "Goodman-Bacon decomposition of TWFE",
            ),
            facts=f,
            alternatives=("synthetic DiD if trends are not parallel",),
        )
    if f.single_treated_unit:
        if not f.donor_pool or f.pre_period is False:
            return _not_identifiable(
                f,
                "One unit was treated with no holdout and no comparable untreated units "
                "observed before and after: any before/after change mixes the effect with "
                "everything else that changed.",
                (
                    "a donor pool of untreated units (other products, regions, platforms) observed "
                    "over a pre-period",
                    "or a randomized holdout for the next launch",
                ),
            )
        return Recommendation(
            "synth",
            "truelift.synth(data, outcome=..., unit=..., time=..., treatment=..., method='sdid')",
            True,
            (
                "One unit launched with no holdout, but untreated donor units were observed before "
                "and after: a weighted combination of donors stands in for the treated unit.",
            ),
            (
                "the treated unit's pre-period path is reproduced by the donors (inside their hull, "
                "or up to a level shift for demeaned SC / SDID)",
                "no spillover onto donors",
                "no other shock specific to the treated unit at launch",
            ),
            (
                "pre-period fit (RMSPE)",
                "convex hull (fails plain SC)",
                "placebo-in-space rank",
                "weight concentration",
            ),
            facts=f,
        )
    if f.opt_in:
        if not f.selection_drivers_observed:
            return _not_identifiable(
                f,
                "Users chose to use the feature and what drove the choice is not observed: "
                "the comparison mixes the effect with who opts in.",
                (
                    "the covariates that drive opt-in (usage tier, tenure, prior activity)",
                    "or a randomized encouragement / staged access to use as an instrument",
                ),
            )
        return Recommendation(
            "propensity",
            "truelift.aipw(data, treatment=..., outcome=..., covariates=[...])",
            True,
            (
                "Users self-selected, but the drivers of opt-in are observed: weighting by the "
                "propensity to opt in balances them.",
            ),
            (
                "no unobserved confounding given the covariates",
                "overlap: every kind of user has a chance of each arm",
            ),
            (
                "overlap / positivity (no overlap refuses the ATE)",
                "covariate balance after weighting (|SMD| < 0.1)",
                _OBSERVATIONAL_SENSITIVITY,
            ),
            facts=f,
            alternatives=("matching on the propensity score",),
        )
    return _not_identifiable(
        f,
        "The feature reached everyone at once, with no randomization, threshold, waves, "
        "donor units or observed selection: nothing separates its effect from time.",
        (
            "a holdout group",
            "a staged rollout with a pre-period",
            "a donor pool of untreated units",
        ),
    )


def recommend(facts: RolloutFacts | None = None, /, **kwargs: Any) -> Recommendation:
    """Map rollout facts to a design (see :class:`RolloutFacts` for the keywords)."""
    if facts is None:
        try:
            facts = RolloutFacts(**kwargs)
        except TypeError as exc:
            allowed = ", ".join(RolloutFacts.__dataclass_fields__)
            raise DesignError(f"{exc}; the rollout facts are: {allowed}.") from None
    elif kwargs:
        raise DesignError("pass either a RolloutFacts object or keywords, not both.")
    if facts.randomization_unit is not None and facts.randomization_unit not in (
        "user",
        "workspace",
        "time_slot",
    ):
        raise DesignError(
            f"randomization_unit must be 'user', 'workspace' or 'time_slot'; got "
            f"{facts.randomization_unit!r}."
        )
    base = _experiment(facts) if facts.randomized else _observational(facts)
    if facts.question == "who_benefits" and base.identifiable:
        return Recommendation(
            "uplift",
            "truelift.uplift (meta-learners, BLP test, Qini on a holdout)",
            True,
            (
                "The question is who benefits: estimate conditional effects, test whether they "
                "differ at all, and evaluate targeting on held-out data.",
            )
            + base.reasons,
            base.assumptions + ("effects vary with observed features (tested, not assumed)",),
            ("best-linear-predictor heterogeneity test", "Qini / AUUC on a holdout"),
            facts=facts,
            alternatives=(f"the average effect by the {base.design} design",),
        )
    return base


@dataclass(frozen=True)
class DetectedFacts:
    """Facts proposed from the columns, with the evidence for each; confirm before relying on them."""

    facts: RolloutFacts
    evidence: tuple[str, ...]

    def recommend(self) -> Recommendation:
        return recommend(self.facts)


def _step_threshold(
    score: np.ndarray, t: np.ndarray, min_agreement: float = 0.999
) -> tuple[float, str] | None:
    """The cut-off c and side such that ``t == [score < c]`` (or ``>=``) for nearly every row.

    Near-exact rather than exact agreement allows for a score that was rounded after routing.
    """
    order = np.argsort(score, kind="stable")
    s, tt = score[order], t[order]
    n = s.size
    ones_before = np.concatenate([[0.0], np.cumsum(tt)])  # treated among the first k rows
    zeros_after = (n - np.arange(n + 1)) - (tt.sum() - ones_before)
    below = (ones_before + zeros_after) / n  # agreement if treated = first k rows
    above = ((np.arange(n + 1) - ones_before) + (tt.sum() - ones_before)) / n
    for side, agree in (("below", below), ("above", above)):
        k = int(np.argmax(agree[1:-1])) + 1
        if agree[k] >= min_agreement:
            return float((s[k - 1] + s[k]) / 2), side
    return None


def detect_design(
    data: Any,
    *,
    treatment: str,
    unit: str | None = None,
    time: str | None = None,
    scores: list[str] | None = None,
    covariates: list[str] | None = None,
) -> DetectedFacts:
    """Propose rollout facts from the data's columns.

    Checks, in order: a treatment that is a step function of a score column (threshold); a
    treatment constant within ``unit`` that switches on at different ``time``s (waves), with or
    without never-treated units; a single treated unit; otherwise self-selection (opt-in) with the
    covariates taken as the observed drivers. Randomization cannot be seen in data: say so with
    ``recommend(randomized=True, ...)``.
    """
    cols = _frame.load(
        data,
        binary={"treatment": treatment},
        numeric={f"score:{s}": s for s in scores or []},
        keys={"unit": unit, "time": time},
        nonconstant=(),
    )
    t = cols["treatment"]
    evidence: list[str] = []
    for s in scores or []:
        hit = _step_threshold(cols[f"score:{s}"], t)
        if hit is not None:
            evidence.append(
                f"{treatment} = 1 exactly (in at least 99.9% of rows) when {s} is {hit[1]} "
                f"{hit[0]:.4g}: a threshold."
            )
            return DetectedFacts(RolloutFacts(threshold=True), tuple(evidence))
    if unit is not None and time is not None:
        u, tm = cols["unit"], cols["time"]
        first = np.full(int(u.max()) + 1, np.iinfo(np.int64).max)
        np.minimum.at(first, u[t == 1], tm[t == 1])
        treated_units = np.unique(u[t == 1])
        absorbing = bool(np.all(t[tm >= first[u]] == 1))
        starts = np.unique(first[treated_units])
        never = bool(treated_units.size < first.size)
        if treated_units.size == 1:
            evidence.append(f"only one {unit} is ever treated: a single-unit launch.")
            return DetectedFacts(
                RolloutFacts(
                    single_treated_unit=True, donor_pool=never, pre_period=bool(starts[0] > 0)
                ),
                tuple(evidence),
            )
        if absorbing and (never or starts.size > 1):
            evidence.append(
                f"{treatment} switches on once per {unit} and stays on, starting at "
                f"{starts.size} different {time} value(s); "
                + (
                    "some units are never treated."
                    if never
                    else "every unit is eventually treated."
                )
            )
            return DetectedFacts(
                RolloutFacts(
                    waves=True, never_treated_group=never, pre_period=bool(starts.min() > 0)
                ),
                tuple(evidence),
            )
    evidence.append(
        f"{treatment} is neither a step in a score nor a staged rollout: treated as self-selected; "
        + (
            "the covariates given are taken as the drivers of selection."
            if covariates
            else "no covariates were named as drivers of selection."
        )
    )
    return DetectedFacts(
        RolloutFacts(opt_in=True, selection_drivers_observed=bool(covariates)), tuple(evidence)
    )
