"""Serving parity: the HTTP serving core must give the same scores as the model in process."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcheck.errors import ConfigError
from mlcheck.models import Predictor
from mlcheck.results import Comparison, GateResult
from mlcheck.serving.client import predict_http, records_from_frame

__all__ = ["PARITY_TOLERANCE", "serving_parity_gate"]

PARITY_TOLERANCE = 1e-6


def serving_parity_gate(
    base_url: str, model: Predictor, frame: pd.DataFrame, rows: int = 200, batch: int = 100
) -> GateResult:
    """Score `rows` rows over HTTP and in process; the largest difference must be ~0."""
    names = model.info.feature_names
    if names is None:
        raise ConfigError(
            f"model={model.info.uri!r} has no input signature; "
            "serving needs one to validate requests"
        )
    sample = frame.head(rows)
    records = records_from_frame(sample, names)
    served = np.concatenate(
        [predict_http(base_url, records[i : i + batch]) for i in range(0, len(records), batch)]
    )
    local = model.predict_proba(sample[list(names)])
    difference = float(np.max(np.abs(served - local))) if len(local) else float("nan")
    passed = Comparison.LE.holds(difference, PARITY_TOLERANCE)
    return GateResult.judged(
        "serving.parity",
        "max_abs_diff",
        difference,
        PARITY_TOLERANCE,
        Comparison.LE,
        reason="" if passed else "the served model scores rows differently from the model file",
        details={"rows": len(local), "url": base_url},
    )
