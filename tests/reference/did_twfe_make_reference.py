"""Reference numbers for truelift.did.twfe / event_study from pyfixest (and linearmodels).

Run by hand in a venv with the peers (not in CI):
    python -m venv /tmp/venv-did && /tmp/venv-did/bin/pip install -e . pyfixest linearmodels wildboottest
    /tmp/venv-did/bin/python tests/reference/did_twfe_make_reference.py
Writes tests/reference/did_twfe_reference.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def main() -> None:
    import pyfixest as pf

    d = pd.read_csv(HERE / "data" / "mpdta.csv").rename(columns={"first.treat": "first_treat"})
    d["post"] = ((d.first_treat > 0) & (d.year >= d.first_treat)).astype(int)
    out: dict[str, dict] = {"versions": {"pyfixest": pf.__version__}}
    fit = pf.feols("lemp ~ post | countyreal + year", data=d, vcov={"CRV1": "countyreal"})
    out["mpdta_pyfixest"] = {
        "coef": float(fit.coef()["post"]),
        "se": float(fit.se()["post"]),
        "ssc": "pyfixest default",
    }
    full = pf.feols(
        "lemp ~ post | countyreal + year",
        data=d,
        vcov={"CRV1": "countyreal"},
        ssc=pf.ssc(k_fixef="full"),
    )
    out["mpdta_pyfixest_full"] = {
        "coef": float(full.coef()["post"]),
        "se": float(full.se()["post"]),
    }
    # event study: never-treated coded at the reference (-1), so they get no event dummies
    d["rel"] = np.where(d.first_treat > 0, d.year - d.first_treat, -1)
    es = pf.feols(
        "lemp ~ i(rel, ref=-1) | countyreal + year",
        data=d,
        vcov={"CRV1": "countyreal"},
        ssc=pf.ssc(k_fixef="full"),
    )
    coefs, ses = es.coef(), es.se()
    out["mpdta_event_study_full"] = {
        "coef": {k: float(v) for k, v in coefs.items()},
        "se": {k: float(v) for k, v in ses.items()},
    }
    try:
        d["state"] = d.countyreal // 1000
        wb = pf.feols("lemp ~ post | countyreal + year", data=d, vcov={"CRV1": "state"})
        boot = wb.wildboottest(param="post", reps=99_999, seed=1, weights_type="webb")
        out["mpdta_state_wildboot_webb"] = {
            "pvalue": float(boot["Pr(>|t|)"]),
            "reps": 99_999,
            "asymptotic_p": float(wb.pvalue()["post"]),
        }
        d["x"] = np.sin(d.countyreal * d.year)  # a deterministic time-varying covariate
        wbx = pf.feols("lemp ~ post + x | countyreal + year", data=d, vcov={"CRV1": "state"})
        bootx = wbx.wildboottest(param="post", reps=99_999, seed=1, weights_type="webb")
        out["mpdta_state_wildboot_webb_covariate"] = {
            "pvalue": float(bootx["Pr(>|t|)"]),
            "reps": 99_999,
            "coef": float(wbx.coef()["post"]),
        }
    except Exception as exc:  # optional peer
        out["mpdta_state_wildboot_webb"] = {"error": repr(exc)}
    try:
        from linearmodels.panel import PanelOLS

        p = d.set_index(["countyreal", "year"])
        lm = PanelOLS(p.lemp, p[["post"]], entity_effects=True, time_effects=True).fit(
            cov_type="clustered", cluster_entity=True
        )
        out["mpdta_linearmodels"] = {
            "coef": float(lm.params["post"]),
            "se": float(lm.std_errors["post"]),
        }
    except Exception as exc:  # optional peer
        out["mpdta_linearmodels"] = {"error": repr(exc)}
    (HERE / "did_twfe_reference.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
