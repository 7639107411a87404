"""Serving parity: the HTTP serving core, and MLflow's own pyfunc (what `mlflow models serve`
runs), must give the same scores as the model in process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _missing_text_columns(
    mlflow_scores: np.ndarray, local: np.ndarray, records: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The text columns missing (JSON null) in every row MLflow scores differently, when
    they explain the difference: no row without such a null differs."""
    if len(records) != len(local):
        return []
    gap = np.abs(np.asarray(mlflow_scores, float) - np.asarray(local, float))
    differs = (gap.reshape(len(local), -1) > PARITY_TOLERANCE).any(axis=1)
    text = {k for r in records for k, v in r.items() if isinstance(v, str)}
    nulls = [{k for k in text if r.get(k, "") is None} for r in records]
    if not differs.any() or any(d and not n for d, n in zip(differs, nulls, strict=True)):
        return []
    return sorted(set().union(*(n for d, n in zip(differs, nulls, strict=True) if d)))


def mlflow_parity_gate(
    mlflow_scores: np.ndarray | None,
    local: np.ndarray,
    error: str = "",
    records: Sequence[Mapping[str, Any]] = (),
) -> GateResult:
    """MLflow's pyfunc must score JSON-shaped rows as mlcheck does.

    `mlflow_scores` is None when MLflow could not score them (`error` says why): that is a FAIL,
    not an ERROR, since a deploy target serving the model with MLflow would fail every request.
    With the `records` scored, a difference found only on rows with a missing text value is
    explained (MLflow hands JSON null to the model as None, not as NaN) with its fixes.
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
    differs = "MLflow's pyfunc scores JSON-shaped rows differently from mlcheck"
    missing = _missing_text_columns(mlflow_scores, local, records)
    if missing:
        named = ", ".join(repr(c) for c in missing)
        details["missing_text_columns"] = missing
        differs = (
            f"{differs} on the rows whose {named} is missing: MLflow's pyfunc hands a JSON null "
            "to the model as None, where a missing value read from a file is NaN, and the model "
            "(an encoder such as scikit-learn's OneHotEncoder) scores the two apart, so "
            "`mlflow models serve` would answer those rows differently. Make the model treat "
            "None as NaN (a first pipeline step such as "
            "FunctionTransformer(lambda X: X.where(X.notna(), np.nan))), or serve it with "
            "`mlcheck serve`"
        )
    return _judge_difference(name, mlflow_scores, local, differs, details)


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
