"""Seeded data sets for the RD parity tests (shared by the tests and make_rdd_reference.py).

Only numpy: the reference script imports this file in a separate venv that runs rdrobust.
"""

from __future__ import annotations

import numpy as np


def make(name: str) -> dict[str, np.ndarray]:
    """Columns x, y (and t, z1, z2, cl where relevant) of data set ``name``."""
    rng = np.random.default_rng(_SEEDS[name])
    n = 2500
    x = 2 * rng.beta(2, 2, n) - 1 if name == "curved" else rng.uniform(-1, 1, n)
    if name == "masspoints":
        x = np.round(x, 2)
    d = (x >= 0).astype(float)
    z1 = rng.normal(size=n)
    z2 = rng.binomial(1, 0.4, n).astype(float)
    cl = rng.integers(0, 40, n)
    u = rng.normal(0, 0.3, n)
    out: dict[str, np.ndarray] = {"x": x}
    if name == "linear":
        out["y"] = 1 + 0.5 * x + 0.3 * d + u
    elif name == "curved":
        out["y"] = np.sin(2 * x) + x**2 + 0.4 * d + u
    elif name == "masspoints":
        out["y"] = 1 + 0.8 * x - 0.5 * x**2 + 0.3 * d + u
    elif name == "covariates":
        out["y"] = 1 + 0.8 * x + 0.25 * d + 0.5 * z1 + 0.2 * z2 + u
        out["z1"], out["z2"] = z1, z2
    elif name == "clustered":
        effect = rng.normal(0, 0.3, 40)
        out["y"] = 1 + 0.7 * x + 0.3 * d + effect[cl] + u
        out["cl"] = cl.astype(float)
    elif name == "fuzzy":
        t = rng.binomial(1, np.where(x >= 0, 0.8, 0.2)).astype(float)
        out["y"] = 1 + 0.6 * x + 0.5 * t + 0.3 * z1 + u
        out["t"], out["z1"], out["cl"] = t, z1, cl.astype(float)
    return out


_SEEDS = {
    "linear": 101,
    "curved": 102,
    "masspoints": 103,
    "covariates": 104,
    "clustered": 105,
    "fuzzy": 106,
}

# (case id, data set, truelift rdd keyword arguments); the reference script maps them to rdrobust.
CASES: list[tuple[str, str, dict]] = [
    ("linear_default", "linear", {}),
    ("linear_hc1_msetwo", "linear", {"vce": "hc1", "bandwidth": "msetwo"}),
    ("linear_uniform_cerrd", "linear", {"kernel": "uniform", "bandwidth": "cerrd"}),
    ("curved_epa_hc2", "curved", {"kernel": "epanechnikov", "vce": "hc2"}),
    ("curved_p2_certwo", "curved", {"p": 2, "bandwidth": "certwo"}),
    ("curved_fixed_hc3", "curved", {"bandwidth": 0.4, "b": 0.6, "vce": "hc3"}),
    ("masspoints_nn", "masspoints", {}),
    ("masspoints_hc0", "masspoints", {"vce": "hc0"}),
    ("masspoints_off", "masspoints", {"masspoints": "off"}),
    ("masspoints_p0", "masspoints", {"p": 0}),
    ("masspoints_pair_bw", "masspoints", {"bandwidth": (0.2, 0.3), "b": (0.4, 0.5)}),
    (
        "masspoints_uniform_hc2_msetwo",
        "masspoints",
        {"kernel": "uniform", "vce": "hc2", "bandwidth": "msetwo"},
    ),
    ("linear_p3", "linear", {"p": 3}),
    ("covariates_nn", "covariates", {"covariates": ["z1", "z2"]}),
    ("covariates_hc3", "covariates", {"covariates": ["z1", "z2"], "vce": "hc3"}),
    ("clustered_cr1", "clustered", {"cluster": "cl"}),
    ("clustered_cerrd", "clustered", {"cluster": "cl", "bandwidth": "cerrd"}),
    ("fuzzy_nn", "fuzzy", {"treatment": "t"}),
    ("fuzzy_hc1", "fuzzy", {"treatment": "t", "vce": "hc1"}),
    ("fuzzy_covs_cluster", "fuzzy", {"treatment": "t", "covariates": ["z1"], "cluster": "cl"}),
]


def make_density(name: str) -> np.ndarray:
    """Running variable for the density-test parity cases (``bunching`` piles mass below 0)."""
    if name == "bunching":
        rng = np.random.default_rng(107)
        return np.r_[rng.uniform(-1, 1, 2500), rng.uniform(-0.1, 0, 250)]
    return make(name)["x"]


DENSITY_CASES = ["linear", "curved", "masspoints", "bunching"]
