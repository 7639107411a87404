"""Drift gates: per-column drift, dataset drift share, prediction drift and target drift.

The statistics live in `mlcheck.stats.drift` (vectorised, Evidently's defaults); this module turns
them into gate results under the policy, and makes a missing or mistyped column an ERROR
that names it instead of a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from mlcheck.errors import DataError
from mlcheck.features import ColumnKind, FeatureSpec, infer_features
from mlcheck.policy import DriftPolicy
from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.stats.catalogue import METHODS, label_kind
from mlcheck.stats.drift import (
    ColumnData,
    ColumnDrift,
    Effect,
    column_data,
    columns_drift,
    dataset_drift,
)
from mlcheck.stats.tasks import Task

__all__ = [
    "Member",
    "column_drift_gates",
    "column_kinds",
    "drift_gates",
    "frame_columns",
    "prediction_member",
    "target_member",
    "target_skip",
]


def column_kinds(
    features: Sequence[FeatureSpec] | None, reference: pd.DataFrame, exclude: Sequence[str] = ()
) -> dict[str, ColumnKind]:
    """numeric/categorical per input column: the model's features, else the reference's dtypes."""
    specs = features if features is not None else infer_features(reference, exclude=exclude)
    return {f.name: f.kind.column_kind for f in specs if f.name not in exclude}


def _comparison(method: str) -> Comparison:
    """How a passing statistic compares with its threshold: the opposite of the drift rule.

    p-values drift below the threshold (KS also at it); distances at or above it.
    """
    spec = METHODS[method]
    if spec.is_p_value:
        return Comparison.GT if spec.inclusive else Comparison.GE
    return Comparison.LT if spec.inclusive else Comparison.LE


def _gate(
    name: str,
    drift: ColumnDrift,
    subject: str,
    outcome_if_drifted: Outcome,
    warn: float | None,
    family: str,
) -> GateResult:
    """A member's gate: drifted (its test rejects after the family's adjustment and its
    effect reaches the floor), WARN for a distance past its warn level or a test with too
    few rows to find the shifts it is meant to, else PASS."""
    outcome = outcome_if_drifted if drift.drifted else Outcome.PASS
    # Under fdr the verdict is on the BH-adjusted p-value: show that one, keep the raw one.
    adjusted = drift.fdr_p_value is not None
    method = f"{drift.method} (BH)" if adjusted else drift.method
    how = f"{drift.method}, Benjamini-Hochberg adjusted p" if adjusted else drift.method
    effect = drift.effect
    reason = ""
    if drift.drifted:
        size = f"; {effect.method} {effect.value:.3g} >= {effect.floor:g}" if effect else ""
        reason = f"{subject} drifted ({drift.kind}, {how}{size})"
    elif warn is not None and not METHODS[drift.method].is_p_value and drift.statistic >= warn:
        outcome = Outcome.WARN
    elif effect is not None and effect.detectable is not None and effect.detectable.underpowered:
        found = effect.detectable
        outcome = Outcome.WARN
        reason = (
            f"too few rows ({drift.reference_rows} reference, {drift.current_rows} current) to "
            f"find a shift of {_size(found.target, found.unit)} in {subject}: this test finds "
            f"about {_size(found.size, found.unit)}; gate on more rows"
        )
    return GateResult(
        name=name,
        outcome=outcome,
        metric=method,
        value=drift.fdr_p_value if adjusted else drift.statistic,
        threshold=drift.threshold,
        comparison=_comparison(drift.method),
        reason=reason,
        details={
            "kind": drift.kind,
            "reference_rows": drift.reference_rows,
            "current_rows": drift.current_rows,
            "warn": warn,
            **({"p_value": drift.statistic} if adjusted else {}),
            **({"family": {"size": drift.family_size, "method": family}} if adjusted else {}),
            **(_effect_details(effect) if effect is not None else {}),
            **_bound_details(drift),
        },
    )


def _size(value: float, unit: str) -> str:
    return f"{value:.2g} sd" if unit == "sd" else f"{100 * value:.0f} points of a share"


def _effect_details(effect: Effect) -> dict[str, object]:
    found = effect.detectable
    power = (
        {"detectable": found.size, "unit": found.unit, "target": found.target}
        if found is not None
        else None
    )
    return {
        "effect": {"method": effect.method, "value": effect.value, "floor": effect.floor},
        "power": power,
    }


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


def _unusable(
    column: str, kind: ColumnKind, reference: pd.DataFrame, current: pd.DataFrame
) -> str | None:
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
    reference: pd.DataFrame, current: pd.DataFrame, kinds: Mapping[str, ColumnKind]
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
    kinds: Mapping[str, ColumnKind],
    policy: DriftPolicy,
    outputs: Mapping[str, Member] | None = None,
) -> list[GateResult]:
    """`column_drift_gates` of two frames in memory (and the `outputs` members)."""
    if current.empty or reference.empty:
        raise DataError("drift needs rows in both the reference and the current data")
    return column_drift_gates(frame_columns(reference, current, kinds), kinds, policy, outputs)


#: A family member other than an input column: its reduced data (or why it has none), kind.
Member = tuple[ColumnData | str, ColumnKind]

#: How the members of a run's drift family are named in reasons.
_SUBJECTS = {"drift.prediction": "the model's outputs", "drift.target": "the labels"}


def column_drift_gates(
    data: Mapping[str, ColumnData | str],
    kinds: Mapping[str, ColumnKind],
    policy: DriftPolicy,
    outputs: Mapping[str, Member] | None = None,
) -> list[GateResult]:
    """The run's drift gates, decided as one family: a gate per column, the dataset share
    gate, and a gate per member of `outputs` (`drift.prediction`, `drift.target`). A column or
    member given as a string is an ERROR saying why.

    The p-value tests of every member are adjusted together (Benjamini-Hochberg with
    `policy.fdr`), and one counts as drift only when its effect also reaches the policy's
    floor (`min_wasserstein`, `min_jensenshannon`), so each extra test does not add its own
    chance blocks and a tiny shift in a large sample is not drift. The share counts columns.
    """
    results: dict[str, GateResult] = {}
    members: dict[str, ColumnData] = {}
    member_kinds: dict[str, ColumnKind] = {}
    subjects: dict[str, str] = {}
    given = {f"drift.{c}": (data[c], kind) for c, kind in kinds.items()}
    clash = sorted(set(given) & set(outputs or {}))
    if clash:
        raise DataError(
            f"input column {clash[0].removeprefix('drift.')!r} has the gate name {clash[0]} of "
            f"the run's own {clash[0]} gate; rename the column, or turn that gate off in the "
            "policy's [drift] section"
        )
    given |= dict(outputs or {})
    for name, (reduced, kind) in given.items():
        if isinstance(reduced, str):
            results[name] = GateResult.error(name, reduced, metric="drift")
        else:
            members[name], member_kinds[name] = reduced, kind
            column = name.removeprefix("drift.")
            subjects[name] = _SUBJECTS.get(name) or f"column {column!r}"
    rules = {f"drift.{c}": rule for c, rule in policy.columns.items() if f"drift.{c}" in members}
    floors = {"wasserstein": policy.min_wasserstein, "jensenshannon": policy.min_jensenshannon}
    drifts = (
        columns_drift(members, member_kinds, rules, fdr=policy.fdr, floors=floors)
        if members
        else []
    )
    family = "benjamini-hochberg" if policy.fdr else "none"
    drifted_outcome = Outcome.when_not_held(policy.column_outcome)
    column_drifts = []
    for drift in drifts:
        column = drift.column.removeprefix("drift.")
        rule = policy.columns.get(column) if drift.column not in _SUBJECTS else None
        gate = _gate(
            drift.column,
            drift,
            subjects[drift.column],
            drifted_outcome,
            rule.warn if rule else None,
            family,
        )
        if drift.column not in (outputs or {}):
            gate = replace(gate, details={"column": column, **gate.details})
            column_drifts.append(drift)
        results[drift.column] = gate
    ordered = [results[f"drift.{c}"] for c in kinds]
    ordered.append(_dataset_gate(column_drifts, len(kinds), drifts, policy, family))
    ordered.extend(results[name] for name in outputs or {})
    return ordered


def _dataset_gate(
    columns: list[ColumnDrift],
    expected: int,
    family: list[ColumnDrift],
    policy: DriftPolicy,
    method: str,
) -> GateResult:
    """The share of drifted columns; the family's adjusted p-values are in its details."""
    if len(columns) < expected:
        return GateResult.error(
            "drift.dataset",
            f"{expected - len(columns)} of {expected} columns could not be compared "
            "(see their drift gates)",
            metric="drifted share",
        )
    share, drifted = dataset_drift(columns, policy.dataset_share)
    names = [d.column.removeprefix("drift.") for d in columns if d.drifted]
    adjusted = {d.column: d.fdr_p_value for d in family if d.fdr_p_value is not None}
    return GateResult(
        name="drift.dataset",
        outcome=Outcome.FAIL if drifted else Outcome.PASS,
        metric="drifted share",
        value=share,
        threshold=policy.dataset_share,
        comparison=Comparison.LT,
        reason=f"drifted: {', '.join(names)}" if names else "",
        details={
            "drifted_columns": names,
            "columns": len(columns),
            "family": {"size": len(adjusted), "method": method, "adjusted_p": adjusted},
        },
    )


def prediction_member(
    reference_scores: np.ndarray, current_scores: np.ndarray, task: Task = "binary"
) -> Member:
    """The model's outputs as a family member: P(class 1) or predicted values as a numeric
    column, a multiclass model's predicted classes as a categorical one."""
    try:
        if task == "multiclass":
            reference = pd.Series(np.argmax(reference_scores, axis=1).astype(str))
            current = pd.Series(np.argmax(current_scores, axis=1).astype(str))
            return column_data(reference, current, "categorical", "prediction"), "categorical"
        data = column_data(
            pd.Series(reference_scores), pd.Series(current_scores), "numeric", "prediction"
        )
        return data, "numeric"
    except DataError as exc:
        return str(exc), "numeric"


def target_member(
    reference: pd.DataFrame, current: pd.DataFrame, target: str, task: str = "binary"
) -> Member | None:
    """The label column as a family member (categorical for classifiers, numeric for a
    regressor's target), or None when a side has no labels (`target_skip`)."""
    if target not in reference.columns or target not in current.columns:
        return None
    kind = label_kind(task)
    if kind == "numeric":
        ref = pd.to_numeric(reference[target], errors="coerce")
        cur = pd.to_numeric(current[target], errors="coerce")
    else:
        ref, cur = reference[target].astype(str), current[target].astype(str)
    try:
        return column_data(ref, cur, kind, target), kind
    except DataError as exc:
        return str(exc), kind


def target_skip(target: str) -> GateResult:
    return GateResult(
        "drift.target", Outcome.SKIP, "drift", reason=f"no {target!r} column in both data sets"
    )
