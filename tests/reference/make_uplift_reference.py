"""Reference Qini / AUUC numbers on Hillstrom from scikit-uplift 0.5.1 and causalml 0.18.

Run in a separate venv with the peers installed (CI does not run this script)::

    python -m venv /tmp/venv-uplift
    /tmp/venv-uplift/bin/pip install scikit-uplift==0.5.1 causalml==0.18.0 pandas
    /tmp/venv-uplift/bin/python tests/reference/make_uplift_reference.py

It scores the randomized Hillstrom e-mail test (Mens E-Mail or Womens E-Mail vs No E-Mail) with
FIXED scores, deterministic functions of the pre-treatment features (no model randomness), and
writes ``tests/reference/uplift_reference.json``, which ``tests/test_uplift_evaluate.py`` reads.
``tied`` has many ties (sklift handles ties deterministically; causalml's order among ties is
pandas' unspecified sort order, so only sklift is recorded for it); ``untied`` breaks ties by row
number (1e-9 per row) so both packages order the rows identically.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
ARMS = {"mens": "Mens E-Mail", "womens": "Womens E-Mail"}
OUTCOMES = ("visit", "conversion")


def load_hillstrom(arm: str) -> pd.DataFrame:
    """Rows of ``arm`` (Mens/Womens E-Mail) and of the control arm, with ``treatment`` 0/1."""
    df = pd.read_csv(HERE / "data" / "hillstrom.csv.gz")
    df = df[df["segment"].isin([ARMS[arm], "No E-Mail"])].reset_index(drop=True)
    df["treatment"] = (df["segment"] == ARMS[arm]).astype(int)
    return df


def scores(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The fixed scores: deterministic functions of the features."""
    web = (df["channel"] == "Web").to_numpy(float)
    tied = (
        0.3 * df["mens"]
        - 0.2 * df["womens"]
        + 0.1 * df["newbie"]
        - 0.01 * df["recency"]
        + 0.05 * web
    ).to_numpy(float)
    untied = (
        np.log1p(df["history"].to_numpy(float))
        + 0.5 * df["mens"].to_numpy(float)
        - 0.3 * df["womens"].to_numpy(float)
        - 0.02 * df["recency"].to_numpy(float)
        + 1e-9 * np.arange(len(df))
    )
    return {"tied": np.round(tied, 10), "untied": untied}


def main() -> None:
    from causalml.metrics import auuc_score, qini_score
    from sklift.metrics import qini_auc_score, uplift_auc_score

    out: dict[str, object] = {
        "source": "tests/reference/make_uplift_reference.py",
        "versions": {p: version(p) for p in ("scikit-uplift", "causalml", "numpy", "pandas")},
        "cases": [],
    }
    for arm in ARMS:
        df = load_hillstrom(arm)
        for outcome in OUTCOMES:
            y, t = df[outcome].to_numpy(), df["treatment"].to_numpy()
            for name, s in scores(df).items():
                assert name == "tied" or np.unique(s).size == s.size
                case = {
                    "arm": arm,
                    "outcome": outcome,
                    "score": name,
                    "n": len(df),
                    "sklift_qini_auc_score": float(qini_auc_score(y, s, t)),
                    "sklift_qini_auc_score_positive_only": float(
                        qini_auc_score(y, s, t, negative_effect=False)
                    ),
                    "sklift_uplift_auc_score": float(uplift_auc_score(y, s, t)),
                }
                if name == "untied":
                    frame = pd.DataFrame({"y": y, "w": t, "score": s})
                    case["causalml_qini_score"] = float(qini_score(frame)["score"])
                    case["causalml_auuc_score"] = float(auuc_score(frame)["score"])
                out["cases"].append(case)  # type: ignore[union-attr]
    path = HERE / "uplift_reference.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
