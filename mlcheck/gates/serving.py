"""Serving parity: the HTTP serving core must give the same scores as the model in process."""

from __future__ import annotations

import numpy as np

from mlcheck.results import Comparison, GateResult

__all__ = ["PARITY_TOLERANCE", "serving_parity_gate"]

PARITY_TOLERANCE = 1e-6


def serving_parity_gate(served: np.ndarray, local: np.ndarray, url: str = "") -> GateResult:
    """The largest difference between scores over HTTP and in process must be ~0."""
    if len(served) != len(local):
        return GateResult.error(
            "serving.parity",
            f"the served model returned {len(served)} scores for {len(local)} rows",
            metric="max_abs_diff",
        )
    difference = float(np.max(np.abs(served - local))) if len(local) else float("nan")
    passed = Comparison.LE.holds(difference, PARITY_TOLERANCE)
    return GateResult.judged(
        "serving.parity",
        "max_abs_diff",
        difference,
        PARITY_TOLERANCE,
        Comparison.LE,
        reason="" if passed else "the served model scores rows differently from the model file",
        details={"rows": len(local), "url": url},
    )
