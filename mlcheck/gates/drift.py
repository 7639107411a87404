"""Drift gates: per-column drift, dataset drift share, prediction drift and target drift.

The statistics live in `mlcheck.stats.drift` (vectorised, Evidently's defaults); this module turns
them into gate results under the policy, and makes a missing or mistyped column an ERROR
that names it instead of a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mlcheck.errors import DataError
from mlcheck.features import FeatureKind, FeatureSpec, infer_features
from mlcheck.policy import ColumnDriftRule, DriftPolicy
from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.stats.drift import (
    METHODS,
    ColumnData,
    ColumnDrift,
    column_data,
    columns_drift,
    dataset_drift,
)

__all__ = [
    "column_drift_gates",
    "column_kinds",
    "drift_gates",
    "frame_columns",
    "prediction_drift_gate",
    "summary_drift_gate",
    "target_drift_gate",
]


def column_kinds(
    features: Sequence[FeatureSpec] | None, reference: pd.DataFrame, exclude: Sequence[str] = ()
) -> dict[str, str]:
    """numeric/categorical per input column: the model's features, else the reference's dtypes."""
    specs = features if features is not None else infer_features(reference, exclude=exclude)
    return {
        f.name: "numeric" if f.kind in (FeatureKind.NUMERIC, FeatureKind.INTEGER) else "categorical"
        for f in specs
        if f.name not in exclude
    }


def _comparison(method: str) -> Comparison:
    """How a passing statistic compares with its threshold: the opposite of the drift rule.

    p-values drift below the threshold (KS also at it); distances at or above it.
    """
    spec = METHODS[method]
    if spec.is_p_value:
        return Comparison.GT if spec.inclusive else Comparison.GE
    return Comparison.LT if spec.inclusive else Comparison.LE


def _gate(
    name: str, drift: ColumnDrift, outcome_if_drifted: Outcome, warn: float | None
) -> GateResult:
    outcome = outcome_if_drifted if drift.drifted else Outcome.PASS
    reason = f"column {drift.column!r} drifted ({drift.kind}, " if drift.drifted else ""
    if (
        outcome is Outcome.PASS
        and warn is not None
        and not METHODS[drift.method].is_p_value
        and drift.statistic >= warn
    ):
        outcome = Outcome.WARN
    # Under fdr the verdict is on the BH-adjusted p-value: show that one, keep the raw one.
    adjusted = drift.fdr_p_value is not None
    method = f"{drift.method} (BH)" if adjusted else drift.method
    how = f"{drift.method}, Benjamini-Hochberg adjusted p" if adjusted else drift.method
    return GateResult(
        name=name,
        outcome=outcome,
        metric=method,
        value=drift.fdr_p_value if drift.fdr_p_value is not None else drift.statistic,
        threshold=drift.threshold,
        comparison=_comparison(drift.method),
        reason=f"{reason}{how})" if reason else "",
        details={
            "column": drift.column,
            "kind": drift.kind,
            "reference_rows": drift.reference_rows,
            "current_rows": drift.current_rows,
            "warn": warn,
            **({"p_value": drift.statistic} if adjusted else {}),
            **_bound_details(drift),
        },
    )


def _bound_details(drift: ColumnDrift) -> dict[str, object]:
    """Of a statistic from binned partitions: its range, the end the verdict was taken on,
    and whether the exact value could fall on the other side of the threshold."""
    if drift.bound is None:
        return {}
    spec = METHODS[drift.method]
    low, high = drift.bound
    near = spec.drifted(low, drift.threshold) != spec.drifted(high, drift.threshold)
    return {
        "approximate": True,
        "bound": [low, high],
        "decided_on": "low" if spec.is_p_value else "high",
        "near_threshold": near,
    }


def _unusable(column: str, kind: str, reference: pd.DataFrame, current: pd.DataFrame) -> str | None:
    """Why a column cannot be compared, or None."""
    for label, frame in (("current", current), ("reference", reference)):
        if column not in frame.columns:
            return f"column {column!r} is missing from the {label} data; the schema gate lists them"
        if frame[column].dropna().empty:
            return f"column {column!r} has no values in the {label} data"
        dtype = frame[column].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        if kind == "numeric" and not numeric:
            return (
                f"column {column!r} should be numeric but is {dtype} in the {label} data; "
                "fix the data (the schema gate shows the bad values)"
            )
    return None


def frame_columns(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: Mapping[str, str]
) -> dict[str, ColumnData | str]:
    """Each column of both frames reduced for the drift tests, or why it cannot be."""
    out: dict[str, ColumnData | str] = {}
    for column, kind in kinds.items():
        problem = _unusable(column, kind, reference, current)
        if problem is None:
            try:
                out[column] = column_data(reference[column], current[column], kind, column)
            except DataError as exc:
                out[column] = str(exc)
        else:
            out[column] = problem
    return out


def drift_gates(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    policy: DriftPolicy,
) -> list[GateResult]:
    """One gate per column plus the dataset share gate, of two frames in memory."""
    if current.empty or reference.empty:
        raise DataError("drift needs rows in both the reference and the current data")
    return column_drift_gates(frame_columns(reference, current, kinds), kinds, policy)


def column_drift_gates(
    data: Mapping[str, ColumnData | str], kinds: Mapping[str, str], policy: DriftPolicy
) -> list[GateResult]:
    """One gate per column plus the dataset share gate, from the reduced columns (of frames
    in memory, or of partitions merged); a column given as a string is an ERROR saying why.

    With `policy.fdr` the p-value tests are judged on Benjamini-Hochberg adjusted p-values.
    """
    results: dict[str, GateResult] = {}
    usable: dict[str, str] = {}
    columns: dict[str, ColumnData] = {}
    for column, kind in kinds.items():
        given = data[column]
        if isinstance(given, str):
            results[column] = GateResult.error(f"drift.{column}", given, metric="drift")
        else:
            usable[column], columns[column] = kind, given
    rules = {column: rule for column, rule in policy.columns.items() if column in usable}
    drifted_outcome = Outcome.FAIL if policy.column_outcome == "fail" else Outcome.WARN
    drifts = columns_drift(columns, usable, rules, fdr=policy.fdr) if usable else []
    for drift in drifts:
        rule = policy.columns.get(drift.column)
        results[drift.column] = _gate(
            f"drift.{drift.column}", drift, drifted_outcome, rule.warn if rule else None
        )
    ordered = [results[c] for c in kinds]
    if len(drifts) < len(kinds):
        ordered.append(
            GateResult.error(
                "drift.dataset",
                f"{len(kinds) - len(drifts)} of {len(kinds)} columns could not be compared "
                "(see their drift gates)",
                metric="drifted share",
            )
        )
        return ordered
    share, drifted = dataset_drift(drifts, policy.dataset_share)
    names = [d.column for d in drifts if d.drifted]
    ordered.append(
        GateResult(
            name="drift.dataset",
            outcome=Outcome.FAIL if drifted else Outcome.PASS,
            metric="drifted share",
            value=share,
            threshold=policy.dataset_share,
            comparison=Comparison.LT,
            reason=f"drifted: {', '.join(names)}" if names else "",
            details={"drifted_columns": names, "columns": len(drifts)},
        )
    )
    return ordered


def prediction_drift_gate(
    reference_scores: np.ndarray,
    current_scores: np.ndarray,
    policy: DriftPolicy,
    task: str = "binary",
) -> GateResult:
    """Drift of the model's outputs: P(class 1) or predicted values as a numeric column, and
    a multiclass model's predicted class shares by the Jensen-Shannon distance (a distance,
    not a p-value: the goodness-of-fit chi-square treats a small reference's shares as exact
    and flags clean data)."""
    if task == "multiclass":
        reference = pd.Series(np.argmax(reference_scores, axis=1).astype(str))
        current = pd.Series(np.argmax(current_scores, axis=1).astype(str))
        data = column_data(reference, current, "categorical", "prediction")
        return summary_drift_gate("drift.prediction", data, "categorical", policy)
    reference, current = pd.Series(reference_scores), pd.Series(current_scores)
    data = column_data(reference, current, "numeric", "prediction")
    return summary_drift_gate("drift.prediction", data, "numeric", policy)


def summary_drift_gate(
    name: str, data: ColumnData | str, kind: str, policy: DriftPolicy
) -> GateResult:
    """The drift gate of the model's outputs (`drift.prediction`) or of the label
    (`drift.target`) from the reduced column; a multiclass model's predicted classes are
    judged by the Jensen-Shannon distance (see `prediction_drift_gate`)."""
    if isinstance(data, str):
        return GateResult.error(name, data, metric="drift")
    column = name.removeprefix("drift.")
    method = "jensenshannon" if column == "prediction" and kind == "categorical" else None
    rule = ColumnDriftRule(method=method)
    drift = columns_drift({column: data}, {column: kind}, {column: rule})[0]
    outcome = Outcome.FAIL if policy.column_outcome == "fail" else Outcome.WARN
    return _gate(name, drift, outcome, None)


def target_drift_gate(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    target: str,
    policy: DriftPolicy,
    task: str = "binary",
) -> GateResult:
    """Drift of the label column: categorical for classifiers, numeric for a regressor's
    target; SKIP when a side has no labels."""
    if target not in reference.columns or target not in current.columns:
        return GateResult(
            "drift.target", Outcome.SKIP, "drift", reason=f"no {target!r} column in both data sets"
        )
    if task == "regression":
        reference_labels = pd.to_numeric(reference[target], errors="coerce")
        current_labels = pd.to_numeric(current[target], errors="coerce")
        kind = "numeric"
    else:
        reference_labels, current_labels = (
            reference[target].astype(str),
            current[target].astype(str),
        )
        kind = "categorical"
    data = column_data(reference_labels, current_labels, kind, target)
    return summary_drift_gate("drift.target", data, kind, policy)
