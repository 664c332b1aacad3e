"""Regenerate tests/reference/rdd_reference.json with the authors' packages (not run by CI).

    python3 -m venv /tmp/venv-rdd
    /tmp/venv-rdd/bin/pip install rdrobust rddensity -e /work/main
    /tmp/venv-rdd/bin/python tests/reference/make_rdd_reference.py

Versions used for the committed file are recorded in it ("versions"). Every case of
``rdd_datasets.CASES`` is run through ``rdrobust.rdrobust`` with the matching options; the
density cases through ``rddensity.rddensity`` with its defaults. The SaaS case (``truelift`` must
be importable) is the tutorial's RD: uniform kernel, h = 0.10, p = 1, HC3.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("rdd_datasets", HERE / "rdd_datasets.py")
assert _spec and _spec.loader
ds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ds)

_KERNEL = {"triangular": "tri", "epanechnikov": "epa", "uniform": "uni"}


def _rdrobust_args(data: dict, kw: dict) -> dict:
    args: dict = {
        "c": 0.0,
        "kernel": _KERNEL[kw.get("kernel", "triangular")],
        "p": kw.get("p", 1),
        "vce": kw.get("vce", "nn"),
    }
    bw = kw.get("bandwidth", "mserd")
    if isinstance(bw, str):
        args["bwselect"] = bw
    else:
        args["h"] = list(bw) if isinstance(bw, tuple) else bw
        if "b" in kw:
            args["b"] = list(kw["b"]) if isinstance(kw["b"], tuple) else kw["b"]
    if "masspoints" in kw:
        args["masspoints"] = kw["masspoints"]
    if "treatment" in kw:
        args["fuzzy"] = data[kw["treatment"]]
    if "covariates" in kw:
        args["covs"] = np.column_stack([data[c] for c in kw["covariates"]])
    if "cluster" in kw:
        args["cluster"] = data[kw["cluster"]]
    return args


def _summarise(r) -> dict:  # type: ignore[no-untyped-def]
    return {
        "tau_cl": float(r.coef.iloc[0, 0]),
        "tau_bc": float(r.coef.iloc[1, 0]),
        "se_cl": float(r.se.iloc[0, 0]),
        "se_rb": float(r.se.iloc[2, 0]),
        "ci_cl": [float(v) for v in r.ci.iloc[0]],
        "ci_rb": [float(v) for v in r.ci.iloc[2]],
        "pv_rb": float(r.pv.iloc[2, 0]),
        "h": [float(v) for v in r.bws.iloc[0]],
        "b": [float(v) for v in r.bws.iloc[1]],
        "n_h": [int(v) for v in r.N_h],
        "n_b": [int(v) for v in r.N_b],
    }


def main() -> None:
    from rddensity import rddensity
    from rdrobust import rdrobust

    warnings.simplefilter("ignore")
    out: dict = {
        "versions": {p: md.version(p) for p in ("rdrobust", "rddensity", "numpy")},
        "rdrobust": {},
        "rddensity": {},
    }
    for case, name, kw in ds.CASES:
        data = ds.make(name)
        r = rdrobust(data["y"], data["x"], **_rdrobust_args(data, kw))
        out["rdrobust"][case] = _summarise(r)
    for name in ds.DENSITY_CASES:
        r = rddensity(ds.make_density(name), c=0.0)
        out["rddensity"][name] = {
            "t_jk": float(r.test["t_jk"]),
            "p_jk": float(r.test["p_jk"]),
            "f_left": float(r.hat["left"]),
            "f_right": float(r.hat["right"]),
            "se_diff": float(r.sd_jk["diff"]),
            "h": [float(r.h["left"]), float(r.h["right"])],
            "n_eff": [int(r.n["eff_left"]), int(r.n["eff_right"])],
        }
    try:
        import truelift
    except ImportError:
        truelift = None
    if truelift is not None:
        d = truelift.simulate("saas", n_users=50_000, seed=42).data
        x = d["query_confidence"].to_numpy(float)
        y = d["task_completed"].to_numpy(float)
        r = rdrobust(y, x, c=0.85, kernel="uni", h=0.10, p=1, vce="hc3")
        out["rdrobust"]["saas_uniform_h010_hc3"] = _summarise(r)
        r = rdrobust(y, x, c=0.85)
        out["rdrobust"]["saas_default"] = _summarise(r)
        r = rddensity(x, c=0.85)
        out["rddensity"]["saas"] = {
            "t_jk": float(r.test["t_jk"]),
            "p_jk": float(r.test["p_jk"]),
            "h": [float(r.h["left"]), float(r.h["right"])],
        }
    (HERE / "rdd_reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
