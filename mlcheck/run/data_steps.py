"""The data's gates of a run, whichever engine holds the data: the schema and data quality of
the current data, drift as one family, and the stability of the model's explanations.

As in `model_steps`, a gate that does not apply raises `NotApplicable` with the reason.
"""

from __future__ import annotations

import pandas as pd

from mlcheck.data.partitions import parquet_rows, partition_files
from mlcheck.engine.dask import sample_partitions_seeded
from mlcheck.errors import DataError, NotApplicable
from mlcheck.gates.data_quality import data_quality_gates
from mlcheck.gates.drift import (
    Member,
    column_drift_gates,
    drift_gates,
    prediction_member,
    target_member,
    target_skip,
)
from mlcheck.gates.importance import importance_stability_gate
from mlcheck.gates.schema import schema_gate, violations_gate
from mlcheck.policy import DEFAULT_SLICE_METRIC
from mlcheck.probes.importance import METHOD, SAMPLE_AGREEMENT, permutation_importances
from mlcheck.results import GateResult
from mlcheck.run.applies import in_memory, needs_labels
from mlcheck.run.inputs import GateInputs

__all__ = [
    "data_quality",
    "drift_family",
    "importance_stability",
    "prediction_drift",
    "schema_inputs",
    "target_drift",
]


def schema_inputs(inputs: GateInputs) -> GateResult:
    """Every schema violation of the current data, in one gate (counted per partition and
    merged with --engine dask)."""
    if inputs.spec.engine == "dask":
        summary = inputs.summary
        return violations_gate(summary.schema_groups, summary.current_rows, inputs.schema)
    return schema_gate(inputs.current, inputs.current_schema)


def data_quality(inputs: GateInputs) -> dict[str, GateResult]:
    """The data-quality gates by name (`data_quality.CHECK`)."""
    in_memory(inputs, "data_quality")
    gates = data_quality_gates(
        inputs.reference, inputs.current, inputs.policy.data_quality, columns=list(inputs.kinds)
    )
    return {g.name: g for g in gates}


def drift_family(inputs: GateInputs) -> dict[str, GateResult]:
    """The run's drift gates by name, decided as one family: each model input, the dataset
    share, the model's outputs (unless `[drift] prediction = false` or there is no model) and
    the labels (unless `[drift] target = false`; SKIP when a side has none)."""
    policy = inputs.policy.drift
    summary = inputs.summary if inputs.spec.engine == "dask" else None
    outputs: dict[str, Member] = {}
    if policy.prediction and inputs.model_uri is not None:
        if summary is not None:
            scored = summary.prediction
            outputs["drift.prediction"] = (
                scored if scored is not None else "the partitions gave no model outputs",
                summary.prediction_kind,
            )
        else:
            try:
                outputs["drift.prediction"] = prediction_member(
                    inputs.reference_scores, inputs.scores, inputs.task
                )
            except DataError as exc:
                outputs["drift.prediction"] = (str(exc), "numeric")
    target: Member | None = None
    if policy.target and summary is not None:
        kind = "numeric" if inputs.label_task == "regression" else "categorical"
        target = (summary.target, kind) if summary.target is not None else None
    elif policy.target:
        target = target_member(inputs.reference, inputs.current, inputs.target, inputs.label_task)
    if target is not None:
        outputs["drift.target"] = target
    if summary is not None:
        gates = column_drift_gates(summary.drift, inputs.kinds, policy, outputs)
    else:
        gates = drift_gates(inputs.reference, inputs.current, inputs.kinds, policy, outputs)
    named = {g.name: g for g in gates}
    if policy.target and target is None:
        named["drift.target"] = target_skip(inputs.target)
    return named


def prediction_drift(inputs: GateInputs, family: dict[str, GateResult]) -> GateResult:
    """The model outputs' member of the drift `family`."""
    if not inputs.policy.drift.prediction:
        raise NotApplicable("[drift] prediction = false")
    if inputs.model_uri is None:
        raise NotApplicable(
            "no --model: prediction drift needs a model's scores (the data gates decide)"
        )
    return family["drift.prediction"]


def target_drift(inputs: GateInputs, family: dict[str, GateResult]) -> GateResult:
    """The labels' member of the drift `family`."""
    if not inputs.policy.drift.target:
        raise NotApplicable("[drift] target = false")
    return family["drift.target"]


def _importance_rows(
    inputs: GateInputs, kind: str, rows: int, seed: int
) -> tuple[pd.DataFrame, int]:
    """The reference or current data the importances are measured on, and its row count:
    the frame in memory (the probe samples it), or with --engine dask the same seeded sample
    drawn from the partitions one at a time."""
    if inputs.spec.engine != "dask":
        frame = getattr(inputs, kind)
        return frame, len(frame)
    files = partition_files(inputs.spec.data_location(kind), f"--{kind}")
    return sample_partitions_seeded(files, rows, seed), parquet_rows(files, f"--{kind}")


def _importance_applies(inputs: GateInputs) -> None:
    if not inputs.policy.importance.enabled:
        raise NotApplicable("[importance] enabled = false")
    if inputs.model_uri is None:
        raise NotApplicable("no --model: importance needs a model (the data gates decide)")
    needs_labels(inputs)
    if inputs.target not in inputs.head("reference", 1).columns:
        raise NotApplicable(
            f"the reference data has no {inputs.target!r} labels to score importance on"
        )


def importance_stability(inputs: GateInputs) -> GateResult:
    """Each feature's permutation importance on a seeded sample of `[importance] rows` rows of
    the reference and of the current data (the same rows with either engine), and the gate on
    how far the ranking and the shares moved; the details state the sample."""
    _importance_applies(inputs)
    policy = inputs.policy.importance
    metric = DEFAULT_SLICE_METRIC[inputs.task]
    measured, totals = [], {}
    for kind in ("reference", "current"):
        frame, totals[kind] = _importance_rows(inputs, kind, policy.rows, policy.seed)
        measured.append(
            permutation_importances(
                inputs.model,
                frame,
                inputs.feature_names,
                inputs.target,
                inputs.task,
                metric,
                rows=policy.rows,
                repeats=policy.repeats,
                seed=policy.seed,
                threshold=inputs.policy.quality.decision_threshold,
                name=f"{kind} data",
            )
        )
    reference, current = measured
    sample = {
        "rows": {"reference": reference.rows, "current": current.rows},
        "of": totals,
        "seed": policy.seed,
        "repeats": policy.repeats,
        "rows_predicted": reference.predicted + current.predicted,
        "agreement_with_all_rows": SAMPLE_AGREEMENT,
    }
    return importance_stability_gate(
        reference.mean, current.mean, policy, METHOD, metric, sample=sample
    )
