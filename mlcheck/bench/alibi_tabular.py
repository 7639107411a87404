"""alibi-detect's TabularDrift on saved matrices, run by the drift benchmark as a script.

alibi-detect needs numpy < 2, so it lives in an interpreter of its own
(`scripts/alibi-venv.sh` makes `.venv-alibi`); this file imports nothing from mlcheck.
Usage: `python alibi_tabular.py REQUEST.json`. The request names the reference matrix and the
current matrices (`.npy`, float64, categories as integer codes), the columns and which are
categorical; one JSON line per current matrix is printed: seconds (the fit excluded),
is_drift (Bonferroni over the features at p_val) and each column's p-value.
"""

from __future__ import annotations

import json
import sys
import time
import warnings


def main(request_path: str) -> None:
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from alibi_detect.cd import TabularDrift

    with open(request_path, encoding="utf-8") as file:
        request = json.load(file)
    columns = request["columns"]
    per_feature = {columns.index(c): None for c in request["categorical"]}
    detector = TabularDrift(
        np.load(request["reference"]), p_val=request["p_val"], categories_per_feature=per_feature
    )
    for path in request["currents"]:
        x = np.load(path)
        started = time.perf_counter()
        result = detector.predict(x, drift_type="batch", return_p_val=True)["data"]
        seconds = time.perf_counter() - started
        answer = {
            "seconds": seconds,
            "is_drift": bool(result["is_drift"]),
            "p_values": dict(zip(columns, map(float, result["p_val"]), strict=True)),
            "threshold": float(result["threshold"]),
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
