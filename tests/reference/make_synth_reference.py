"""Reference numbers for truelift.synth from synthdid-py 0.1.0, a line-by-line port of the R package
synthdid (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021). R is not available here, so the port
stands in for it; the port itself reproduces the published California Proposition 99 estimates
(SDID -15.60, SC -19.62, DiD -27.35; synthdid README / paper Table 1), checked below.

Run in a separate venv (not CI):
    python3 -m venv /tmp/venv-synth && /tmp/venv-synth/bin/pip install -e . synthdid-py
    /tmp/venv-synth/bin/python tests/reference/make_synth_reference.py
Writes tests/reference/synth_synthdid.json: the generated panels (so the tests need no generator),
and the port's SDID / SC / DiD estimates, weights and single-unit placebo estimates.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import synthdid

OUT = Path(__file__).with_name("synth_synthdid.json")


def panel(seed: int, n0: int, n1: int, t0: int, t1: int) -> np.ndarray:
    """Low-rank panel with unit and time effects, noise and a treatment effect of 1."""
    rng = np.random.default_rng(seed)
    n, t = n0 + n1, t0 + t1
    L = rng.normal(size=(n, 2)) @ rng.normal(size=(2, t))
    Y = rng.normal(size=(n, 1)) + np.cumsum(rng.normal(0, 0.3, t))[None, :] + L
    Y += rng.normal(0, 0.5, size=(n, t))
    Y[n0:, t0:] += 1.0
    Y[n0:] += 0.5  # treated units sit higher: SC and SDID must differ
    return np.round(Y, 6)


def placebo_estimates(Y0: np.ndarray, t0: int, est) -> list[float]:
    """synthdid placebo_se's theta() with each control in turn as the pseudo-treated unit."""
    w = est.weights
    opts = est.opts
    out = []
    n0 = Y0.shape[0]
    for j in range(n0):
        keep = np.arange(n0) != j
        om = np.asarray(w.omega)[keep]
        om = om / om.sum() if om.sum() != 0 else np.full(om.size, 1.0 / om.size)
        Yp = np.vstack([Y0[keep], Y0[j]])
        weights = {"omega": om, "lambda": np.asarray(w["lambda"])}
        kw = {
            k: opts[k]
            for k in (
                "zeta_omega",
                "zeta_lambda",
                "omega_intercept",
                "lambda_intercept",
                "update_omega",
                "update_lambda",
                "min_decrease",
                "max_iter",
            )
            if k in opts
        }
        out.append(float(synthdid.synthdid_estimate(Yp, n0 - 1, t0, weights=weights, **kw)))
    return out


def main() -> None:
    cal = synthdid.panel_matrices(synthdid.load_california_prop99())
    check = {
        "sdid": float(synthdid.synthdid_estimate(cal.Y, cal.N0, cal.T0)),
        "sc": float(synthdid.sc_estimate(cal.Y, cal.N0, cal.T0)),
        "did": float(synthdid.did_estimate(cal.Y, cal.N0, cal.T0)),
    }
    assert abs(check["sdid"] + 15.604) < 1e-3 and abs(check["sc"] + 19.620) < 1e-3
    cases = []
    for seed, n0, n1, t0, t1 in [(1, 20, 1, 15, 5), (2, 25, 3, 12, 4), (3, 15, 1, 20, 8)]:
        Y = panel(seed, n0, n1, t0, t1)
        case = {"seed": seed, "N0": n0, "T0": t0, "Y": Y.tolist()}
        for name, fn in (
            ("sdid", synthdid.synthdid_estimate),
            ("sc", synthdid.sc_estimate),
            ("did", synthdid.did_estimate),
        ):
            est = fn(Y, n0, t0)
            case[name] = {
                "estimate": float(est),
                "omega": np.asarray(est.weights.omega).tolist(),
                "lambda": np.asarray(est.weights["lambda"]).tolist(),
            }
            if name == "sdid" and n1 == 1:
                case[name]["placebo"] = placebo_estimates(Y[:n0], t0, est)
            if name == "sdid" and n1 > 1:
                case[name]["jackknife_se"] = float(synthdid.jackknife_se(est))
        cases.append(case)
    payload = {
        "source": "synthdid-py 0.1.0 (port of R synthdid); see make_synth_reference.py",
        "california_prop99": check,
        "cases": cases,
    }
    OUT.write_text(json.dumps(payload, indent=1))
    print(f"wrote {OUT}: {check}")


if __name__ == "__main__":
    main()
