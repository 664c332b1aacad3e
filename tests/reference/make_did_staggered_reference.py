"""Reference ATT(g,t) and analytic SEs from the Python port of R did (csdid) on mpdta.

Covers the configurations for which tests/reference/data/mpdta_r_did_*.csv (R did 2.5.0) has no
numbers: repeated cross-sections (panel=False, each row its own sampling unit) and panel DR / IPW
with the covariate lpop. Run in a separate venv with the peer installed:

    python -m venv /tmp/venv-didcs && /tmp/venv-didcs/bin/pip install csdid==0.4.3
    /tmp/venv-didcs/bin/python tests/reference/make_did_staggered_reference.py

Writes tests/reference/did_staggered_reference.json (committed; CI does not run this script).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from csdid.att_gt import ATTgt

HERE = Path(__file__).parent
SCENARIOS = {
    "rc_dr": ({"panel": False, "xformla": None}, "dr"),
    "rc_dr_lpop": ({"panel": False, "xformla": "lemp~lpop"}, "dr"),
    "rc_reg_lpop": ({"panel": False, "xformla": "lemp~lpop"}, "reg"),
    "rc_ipw_lpop": ({"panel": False, "xformla": "lemp~lpop"}, "ipw"),
    "panel_dr_lpop": ({"xformla": "lemp~lpop"}, "dr"),
    "panel_ipw_lpop": ({"xformla": "lemp~lpop"}, "ipw"),
}


def main() -> None:
    df = pd.read_csv(HERE / "data" / "mpdta.csv")
    df["obs_id"] = np.arange(len(df))
    out: dict[str, object] = {"source": f"csdid {version('csdid')} (Python port of R did)"}
    for name, (kw, method) in SCENARIOS.items():
        idname = "countyreal" if kw.get("panel", True) else "obs_id"
        fit = ATTgt(
            yname="lemp", gname="first.treat", idname=idname, tname="year", data=df, **kw
        ).fit(est_method=method, bstrap=False)
        r = fit.results
        out[name] = {
            "group": [float(v) for v in r["group"]],
            "t": [float(v) for v in r["year"]],
            "att": [float(v) for v in r["att"]],
            "se": [float(v) for v in r["se"]],
        }
    (HERE / "did_staggered_reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
