"""Overlap, balance and model-fit diagnostics of the propensity designs, each with a verdict.

* Overlap / positivity (Crump, Hotz, Imbens & Mitnik 2009; Li, Morgan & Zaslavsky 2018): the share
  of units whose score lies outside ``[bound, 1 - bound]``, the score range per arm, Kish's
  effective sample size per arm and the largest weight share. A failure **blocks** the ATE (units
  that almost surely take, or never take, the feature have no comparable units in the other arm)
  and the message names what *is* identified: the ATT when only never-takers are the problem, the
  overlap-weighted ATO, or the ATE on a trimmed population.
* Balance (Austin 2009; Stuart 2010): standardised mean differences and variance ratios of every
  covariate level, raw and after weighting or matching; |SMD| < 0.1 passes, otherwise the headline
  is downgraded. The SMD denominator is the pooled raw standard deviation
  ``sqrt((s1^2 + s0^2) / 2)`` for both the raw and the adjusted difference (as in cobalt/tableone),
  so the two columns are comparable.
* The propensity model's AUC: a very high AUC (>= 0.9) warns that treatment is nearly
  predictable, which thins the overlap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from truelift._parallel import map_ranges
from truelift.result import Diagnostic, Verdict

__all__ = [
    "arm_summary",
    "auc_diagnostic",
    "balance_diagnostic",
    "balance_rows",
    "balance_sums",
    "balance_table",
    "histogram_from_counts",
    "overlap_diagnostic",
    "overlap_facts",
    "overlap_facts_of",
    "overlap_verdict",
]

SMD_THRESHOLD = 0.1
AUC_THRESHOLD = 0.9
OVERLAP_BOUND = 0.01
OVERLAP_SHARE = 0.01


def balance_sums(
    B: np.ndarray, cols: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted sums of every column of ``B`` and of its square under each weight vector in
    ``cols`` (two (k, m) arrays) and the weight totals (m,); cache-sized row blocks."""
    k, m = B.shape[1], len(cols)
    step = 1 << 15

    def part(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        s1, s2 = np.zeros((k, m)), np.zeros((k, m))
        size = min(step, max(hi - lo, 1))  # buffers reused block to block (no page faults)
        wbuf, sq = np.empty((size, m), order="F"), np.empty((size, k), order="F")
        for a in range(lo, hi, step):
            b = min(a + step, hi)
            Bb, Wb, Sb = B[a:b], wbuf[: b - a], sq[: b - a]
            for j, c in enumerate(cols):
                Wb[:, j] = c[a:b]
            np.multiply(Bb, Bb, out=Sb)
            s1 += np.dot(Bb.T, Wb)  # np.dot releases the GIL on the worker threads; @ does not
            s2 += np.dot(Sb.T, Wb)
        return s1, s2

    parts = map_ranges(part, B.shape[0])
    s1 = np.sum([p[0] for p in parts], axis=0)
    s2 = np.sum([p[1] for p in parts], axis=0)
    return s1, s2, np.array([c.sum() for c in cols])


def balance_rows(
    B: np.ndarray, names: list[str], t: np.ndarray, w: np.ndarray | None
) -> list[dict[str, Any]]:
    """One row per covariate level: means, SMD and variance ratio, raw and (if ``w``) adjusted."""
    cols = [t, 1.0 - t] + ([w * t, w * (1.0 - t)] if w is not None else [])
    return balance_table(*balance_sums(B, cols), names)


def balance_table(
    s1: np.ndarray, s2: np.ndarray, tot: np.ndarray, names: list[str]
) -> list[dict[str, Any]]:
    """The balance table from weighted sums: columns of ``s1``/``s2``/``tot`` are treated,
    untreated, and (if present) weighted treated and weighted untreated."""
    mean = s1 / tot
    var = np.maximum(s2 / tot - mean * mean, 0.0)
    adjusted = s1.shape[1] == 4
    sd = np.sqrt((var[:, 0] + var[:, 1]) / 2)
    sd = np.where(sd > 0, sd, np.nan)

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b > 0 else float("nan")

    rows: list[dict[str, Any]] = []
    for j, name in enumerate(names):
        row: dict[str, Any] = {
            "covariate": name,
            "mean_treated": float(mean[j, 0]),
            "mean_control": float(mean[j, 1]),
            "smd_raw": float((mean[j, 0] - mean[j, 1]) / sd[j]),
            "vr_raw": ratio(var[j, 0], var[j, 1]),
        }
        if adjusted:
            row["mean_treated_adj"] = float(mean[j, 2])
            row["mean_control_adj"] = float(mean[j, 3])
            row["smd_adj"] = float((mean[j, 2] - mean[j, 3]) / sd[j])
            row["vr_adj"] = ratio(var[j, 2], var[j, 3])
        rows.append(row)
    return rows


def balance_diagnostic(rows: list[dict[str, Any]], adjusted_by: str) -> Diagnostic:
    """Pass when every covariate level has |SMD| < 0.1 after adjustment; else downgrade."""
    smd = np.array([r.get("smd_adj", r["smd_raw"]) for r in rows], dtype=float)
    smd = np.where(np.isfinite(smd), smd, 0.0)
    worst = int(np.argmax(np.abs(smd)))
    value = float(abs(smd[worst]))
    verdict: Verdict
    bad = [r["covariate"] for r, s in zip(rows, smd, strict=True) if abs(s) >= SMD_THRESHOLD]
    if not bad:
        verdict, msg = (
            "pass",
            f"All {len(rows)} covariate levels are balanced after {adjusted_by} "
            f"(largest |SMD| {value:.3f}, {rows[worst]['covariate']}).",
        )
    else:
        verdict, msg = (
            "fail",
            f"{len(bad)} covariate level(s) remain imbalanced after {adjusted_by} "
            f"(|SMD| >= {SMD_THRESHOLD}): {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}. "
            "The propensity model is misspecified for them: add interactions or splines, or "
            "use aipw() so an outcome model can absorb the remaining imbalance.",
        )
    return Diagnostic(
        name="balance",
        verdict=verdict,
        value=value,
        threshold=f"|SMD| < {SMD_THRESHOLD} for every covariate level",
        message=msg,
        consequence="downgrade",
        details={"table": rows},
    )


def arm_summary(e: np.ndarray, w: np.ndarray, bound: float) -> dict[str, float]:
    """Per-arm figures behind the overlap check (what an engine aggregates per arm)."""
    if e.size == 0:
        nan = float("nan")
        return dict.fromkeys(("n", "n_below", "n_above", "sw", "sw2"), 0.0) | {
            "e_min": nan,
            "e_max": nan,
            "w_max": nan,
        }
    return {
        "n": float(e.size),
        "e_min": float(e.min()),
        "e_max": float(e.max()),
        "n_below": float((e < bound).sum()),
        "n_above": float((e > 1 - bound).sum()),
        "sw": float(w.sum()),
        "sw2": float(w @ w),
        "w_max": float(w.max()),
    }


def overlap_facts(arms: dict[int, dict[str, float]], bound: float) -> dict[str, Any]:
    """The overlap facts from the per-arm figures of :func:`arm_summary` (arm 1, arm 0)."""
    tr, co = arms[1], arms[0]
    n = tr["n"] + co["n"]

    def ess(a: dict[str, float]) -> float:
        return float(a["sw"] ** 2 / a["sw2"]) if a["sw2"] > 0 else 0.0

    return {
        "range_treated": [tr["e_min"], tr["e_max"]],
        "range_control": [co["e_min"], co["e_max"]],
        "share_below": float((tr["n_below"] + co["n_below"]) / n),
        "share_above": float((tr["n_above"] + co["n_above"]) / n),
        "n_below": round(tr["n_below"] + co["n_below"]),
        "n_above": round(tr["n_above"] + co["n_above"]),
        "ess_treated": ess(tr),
        "ess_control": ess(co),
        "n_treated": round(tr["n"]),
        "n_control": round(co["n"]),
        "max_weight_share_treated": float(tr["w_max"] / tr["sw"]),
        "max_weight_share_control": float(co["w_max"] / co["sw"]),
        "bound": bound,
    }


def overlap_facts_of(
    e: np.ndarray, t: np.ndarray, w: np.ndarray, bound: float = OVERLAP_BOUND
) -> dict[str, Any]:
    """The overlap facts from in-memory scores, treatment and weights (row ranges on threads)."""

    def part(lo: int, hi: int) -> dict[int, dict[str, float]]:
        tr = t[lo:hi] == 1
        eb, wb = e[lo:hi], w[lo:hi]
        return {1: arm_summary(eb[tr], wb[tr], bound), 0: arm_summary(eb[~tr], wb[~tr], bound)}

    parts = map_ranges(part, e.size)
    arms = {arm: _merge_arms([p[arm] for p in parts]) for arm in (1, 0)}
    return overlap_facts(arms, bound)


def _merge_arms(parts: list[dict[str, float]]) -> dict[str, float]:
    """Combine :func:`arm_summary` figures of disjoint row ranges."""
    live = [p for p in parts if p["n"] > 0] or parts[:1]
    out = {
        key: float(sum(p[key] for p in live)) for key in ("n", "n_below", "n_above", "sw", "sw2")
    }
    out["e_min"] = min(p["e_min"] for p in live)
    out["e_max"] = max(p["e_max"] for p in live)
    out["w_max"] = max(p["w_max"] for p in live)
    return out


def _alternatives(f: dict[str, Any], estimand: str) -> str:
    alts = []
    if estimand == "ATE" and f["n_above"] == 0:
        alts.append(
            "estimand='ATT' is identified (every treated unit has comparable untreated units)"
        )
    alts.append("estimand='ATO' (overlap weights) estimates the effect where both arms are common")
    alts.append(
        "trim=0.05 estimates the effect on units with propensity in [0.05, 0.95] (Crump et al. 2009)"
    )
    return "; ".join(alts)


def overlap_diagnostic(
    e: np.ndarray, t: np.ndarray, w: np.ndarray, estimand: str, bound: float = OVERLAP_BOUND
) -> Diagnostic:
    """Positivity for ``estimand``: blocks the headline when it is not identified."""
    return overlap_verdict(overlap_facts_of(e, t, w, bound), estimand)


def overlap_verdict(f: dict[str, Any], estimand: str) -> Diagnostic:
    """The overlap diagnostic from its facts (see :func:`overlap_facts`)."""
    bound = f["bound"]
    ess = (
        f"effective sample size {f['ess_treated']:,.0f} of {f['n_treated']:,} treated and "
        f"{f['ess_control']:,.0f} of {f['n_control']:,} untreated"
    )
    ranges = (
        f"propensity ranges {f['range_treated'][0]:.3f}-{f['range_treated'][1]:.3f} (treated), "
        f"{f['range_control'][0]:.3f}-{f['range_control'][1]:.3f} (untreated)"
    )
    if estimand == "ATO":
        share, relevant = f["share_below"] + f["share_above"], "none (overlap weights)"
        violated = False
    elif estimand == "ATT":
        share, relevant = f["share_above"], f"above {1 - bound:g}"
        violated = share > OVERLAP_SHARE
    else:
        share, relevant = f["share_below"] + f["share_above"], f"outside [{bound:g}, {1 - bound:g}]"
        violated = share > OVERLAP_SHARE
    verdict: Verdict
    if violated:
        verdict = "fail"
        msg = (
            f"Positivity fails for the {estimand}: {share:.1%} of units have a propensity "
            f"{relevant} ({f['n_above']:,} above, {f['n_below']:,} below), so their outcome "
            f"under the other arm is not observed for anyone like them; {ranges}. The "
            f"{estimand} is withheld. Instead: {_alternatives(f, estimand)}."
        )
    elif (
        share > 0 or min(f["ess_treated"] / f["n_treated"], f["ess_control"] / f["n_control"]) < 0.1
    ):
        verdict = "warn"
        msg = (
            f"Overlap is thin: {share:.2%} of units have a propensity {relevant}; {ranges}; {ess}."
        )
    else:
        verdict = "pass"
        msg = f"Good overlap: {ranges}; {ess}."
    return Diagnostic(
        name="overlap",
        verdict=verdict,
        value=float(share),
        threshold=f"share of units with propensity {relevant} <= {OVERLAP_SHARE:.0%}",
        message=msg,
        consequence="block",
        details=f,
    )


def auc_diagnostic(auc: float) -> Diagnostic:
    """The propensity model's discrimination; >= 0.9 warns that overlap will be thin."""
    verdict: Verdict
    if auc >= AUC_THRESHOLD:
        verdict, msg = (
            "warn",
            f"The propensity model's AUC is {auc:.3f}: who takes the feature is almost "
            "predictable from the covariates, so few units are comparable across arms.",
        )
    else:
        verdict, msg = "pass", f"The propensity model's AUC is {auc:.3f}."
    return Diagnostic(
        name="propensity AUC",
        verdict=verdict,
        value=float(auc),
        threshold=f"AUC < {AUC_THRESHOLD}",
        message=msg,
        consequence="none",
    )


HIST_BINS = 40


def overlap_histogram(e: np.ndarray, t: np.ndarray, bins: int = HIST_BINS) -> dict[str, Any]:
    """Counts of the score per arm on a fixed grid over [0, 1] (what the overlap plot draws)."""
    edges = np.linspace(0.0, 1.0, bins + 1)

    def part(lo: int, hi: int) -> np.ndarray:
        idx = (e[lo:hi] * bins).astype(np.int64)
        np.minimum(idx, bins - 1, out=idx)
        idx += bins * (t[lo:hi] == 1)  # treated counts in the upper half
        return np.bincount(idx, minlength=2 * bins)

    counts = np.sum(map_ranges(part, e.size), axis=0)
    return {
        "edges": edges.tolist(),
        "treated": counts[bins:].astype(np.int64).tolist(),
        "control": counts[:bins].astype(np.int64).tolist(),
    }


def histogram_from_counts(at_least1: np.ndarray, at_least: np.ndarray) -> dict[str, Any]:
    """The same histogram from counts of units with score >= each inner edge k/bins
    (k = 1..bins-1), treated and all, plus the totals first: what an engine can sum."""
    bins = at_least.size
    treated = -np.diff(np.append(at_least1, 0.0))
    total = -np.diff(np.append(at_least, 0.0))
    return {
        "edges": np.linspace(0.0, 1.0, bins + 1).tolist(),
        "treated": np.rint(treated).astype(np.int64).tolist(),
        "control": np.rint(total - treated).astype(np.int64).tolist(),
    }
