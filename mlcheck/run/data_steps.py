"""The data's gates of a run, whichever engine holds the data: the schema and data quality of
the current data, drift as one family, and the stability of the model's explanations.

As in `model_steps`, a gate that does not apply raises `NotApplicable` with the reason.
"""

from __future__ import annotations

from mlcheck.errors import NotApplicable
from mlcheck.gates.data_quality import data_quality_gates
from mlcheck.gates.drift import Member, column_drift_gates, target_skip
from mlcheck.gates.importance import importance_stability_gate
from mlcheck.gates.schema import violations_gate
from mlcheck.policy import DEFAULT_SLICE_METRIC
from mlcheck.probes.importance import METHOD, SAMPLE_AGREEMENT, permutation_importances
from mlcheck.results import GateResult
from mlcheck.run.applies import in_memory, needs_labels
from mlcheck.run.data import Data
from mlcheck.run.scores import Scores
from mlcheck.run.spec import RunSpec
from mlcheck.run.summaries import engine_summary

__all__ = [
    "data_quality",
    "drift_family",
    "importance_stability",
    "prediction_drift",
    "schema_inputs",
    "target_drift",
]


def schema_inputs(scores: Scores) -> GateResult:
    """Every schema violation of the current data, in one gate (counted per partition and
    merged with --engine dask, in the pass that scores the partitions)."""
    groups, rows = engine_summary(scores).schema_violations()
    return violations_gate(groups, rows, scores.data.current_schema)


def data_quality(data: Data) -> dict[str, GateResult]:
    """The data-quality gates by name (`data_quality.CHECK`)."""
    in_memory(data.spec, "data_quality")
    gates = data_quality_gates(
        data.reference, data.current, data.spec.policy.data_quality, columns=list(data.kinds)
    )
    return {g.name: g for g in gates}


def drift_family(scores: Scores) -> dict[str, GateResult]:
    """The run's drift gates by name, decided as one family: each model input, the dataset
    share, the model's outputs (unless `[drift] prediction = false` or there is no model) and
    the labels (unless `[drift] target = false`; SKIP when a side has none)."""
    data, policy = scores.data, scores.spec.policy.drift
    summary = engine_summary(scores)
    outputs: dict[str, Member] = {}
    if policy.prediction and scores.run_model.uri is not None:
        outputs["drift.prediction"] = summary.prediction()
    target = summary.target() if policy.target else None
    if target is not None:
        outputs["drift.target"] = target
    gates = column_drift_gates(summary.drift_columns(), data.kinds, policy, outputs)
    named = {g.name: g for g in gates}
    if policy.target and target is None:
        named["drift.target"] = target_skip(data.target)
    return named


def prediction_drift(spec: RunSpec, family: dict[str, GateResult]) -> GateResult:
    """The model outputs' member of the drift `family`."""
    if not spec.policy.drift.prediction:
        raise NotApplicable("[drift] prediction = false")
    if spec.model_uri is None:
        raise NotApplicable(
            "no --model: prediction drift needs a model's scores (the data gates decide)"
        )
    return family["drift.prediction"]


def target_drift(spec: RunSpec, family: dict[str, GateResult]) -> GateResult:
    """The labels' member of the drift `family`."""
    if not spec.policy.drift.target:
        raise NotApplicable("[drift] target = false")
    return family["drift.target"]


def _importance_applies(data: Data) -> None:
    if not data.spec.policy.importance.enabled:
        raise NotApplicable("[importance] enabled = false")
    if data.run_model.uri is None:
        raise NotApplicable("no --model: importance needs a model (the data gates decide)")
    needs_labels(data)
    if data.target not in data.head("reference", 1).columns:
        raise NotApplicable(
            f"the reference data has no {data.target!r} labels to score importance on"
        )


def importance_stability(scores: Scores) -> GateResult:
    """Each feature's permutation importance on a seeded sample of `[importance] rows` rows of
    the reference and of the current data (the same rows with either engine), and the gate on
    how far the ranking and the shares moved; the details state the sample."""
    data = scores.data
    _importance_applies(data)
    policy = scores.spec.policy.importance
    metric = DEFAULT_SLICE_METRIC[scores.task]
    measured, totals, summary = [], {}, engine_summary(scores)
    for kind in ("reference", "current"):
        # the frame in memory (the probe samples it), or the same seeded sample drawn from
        # the partitions one at a time
        frame, totals[kind] = summary.sample(kind, policy.rows, policy.seed)
        measured.append(
            permutation_importances(
                scores.model,
                frame,
                data.feature_names,
                data.target,
                scores.task,
                metric,
                rows=policy.rows,
                repeats=policy.repeats,
                seed=policy.seed,
                threshold=scores.spec.policy.quality.decision_threshold,
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
