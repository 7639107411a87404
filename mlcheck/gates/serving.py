"""Serving parity: the HTTP serving core, and MLflow's own pyfunc (what `mlflow models serve`
runs), must give the same scores as the model in process."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlcheck.results import Comparison, GateResult, Outcome

__all__ = [
    "PARITY_TOLERANCE",
    "mlflow_labels_gate",
    "mlflow_parity_gate",
    "serving_parity_gate",
]

PARITY_TOLERANCE = 1e-6


def _judge_difference(
    name: str, scores: np.ndarray, local: np.ndarray, differs: str, details: dict[str, Any]
) -> GateResult:
    """PASS when the largest difference between two equal-length score arrays is ~0."""
    difference = float(np.max(np.abs(scores - local))) if len(local) else float("nan")
    passed = Comparison.LE.holds(difference, PARITY_TOLERANCE)
    return GateResult.judged(
        name,
        "max_abs_diff",
        difference,
        PARITY_TOLERANCE,
        Comparison.LE,
        reason="" if passed else differs,
        details=details,
    )


def serving_parity_gate(served: np.ndarray, local: np.ndarray, url: str = "") -> GateResult:
    """The largest difference between scores over HTTP and in process must be ~0."""
    if len(served) != len(local):
        return GateResult.error(
            "serving.parity",
            f"the served model returned {len(served)} scores for {len(local)} rows",
            metric="max_abs_diff",
        )
    return _judge_difference(
        "serving.parity",
        served,
        local,
        "the served model scores rows differently from the model file",
        {"rows": len(local), "url": url},
    )


def mlflow_parity_gate(
    mlflow_scores: np.ndarray | None, local: np.ndarray, error: str = ""
) -> GateResult:
    """MLflow's pyfunc must score JSON-shaped rows as mlcheck does.

    `mlflow_scores` is None when MLflow could not score them (`error` says why): that is a FAIL,
    not an ERROR, since a deploy target serving the model with MLflow would fail every request.
    """
    name = "serving.mlflow_parity"
    details: dict[str, Any] = {"rows": len(local)}

    def fail(reason: str) -> GateResult:
        return GateResult(
            name,
            Outcome.FAIL,
            "max_abs_diff",
            threshold=PARITY_TOLERANCE,
            comparison=Comparison.LE,
            reason=reason,
            details=details,
        )

    if mlflow_scores is None:
        return fail(
            (error or "MLflow's pyfunc gave no scores")
            + "; `mlflow models serve` would fail the same way. Save the model with "
            "`mlcheck train`, or give it a python_function flavor that takes JSON-shaped rows"
        )
    if len(mlflow_scores) != len(local):
        return fail(f"MLflow's pyfunc returned {len(mlflow_scores)} scores for {len(local)} rows")
    return _judge_difference(
        name,
        mlflow_scores,
        local,
        "MLflow's pyfunc scores JSON-shaped rows differently from mlcheck",
        details,
    )


def mlflow_labels_gate(rows: int) -> GateResult:
    """SKIP: MLflow scored the rows, but its pyfunc returns labels (scikit-learn's `predict`),
    while mlcheck judges `predict_proba`; there are no scores to compare."""
    return GateResult(
        "serving.mlflow_parity",
        Outcome.SKIP,
        "max_abs_diff",
        reason="MLflow's pyfunc serves scikit-learn predict (class labels), mlcheck judges "
        "predict_proba; save with pyfunc_predict_fn='predict_proba' to have them compared",
        details={"rows": rows},
    )
