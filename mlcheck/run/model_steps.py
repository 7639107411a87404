"""The model's gates of a run, whichever engine holds the data: quality with intervals, the
slices, the regression baseline, challenger vs champion, and quality estimated before labels.

Each step decides what applies to the run (labels present, the model's task, the engine) and
raises `NotApplicable` with the reason when its gate does not apply; the suites only record.
"""

from __future__ import annotations

from mlcheck.data.labels import task_labels
from mlcheck.errors import NotApplicable
from mlcheck.gates.compare import compare_gates, no_champion_gate
from mlcheck.gates.estimated import estimated_gates
from mlcheck.gates.quality import baseline_gate, metric_gates, sketch_metric_gates, slice_gates
from mlcheck.results import GateResult, Outcome
from mlcheck.run.applies import in_memory, needs_labels
from mlcheck.run.inputs import GateInputs
from mlcheck.stats.estimated import ESTIMABLE, realized_metrics
from mlcheck.stats.metrics import metric_values

__all__ = [
    "champion_comparison",
    "estimated_quality",
    "quality_metrics",
    "regression_baseline",
    "slices",
]


def quality_metrics(inputs: GateInputs) -> dict[str, GateResult]:
    """Each policy metric of the model's task with its interval, by metric name: from the rows
    in memory, or over partitions from their merged summaries (their rows gathered when few)."""
    needs_labels(inputs)
    summary = inputs.summary if inputs.spec.engine == "dask" else None
    if summary is not None and summary.quality is None:
        raise NotApplicable(f"the current partitions have no {inputs.target!r} labels")
    if summary is not None and summary.quality is not None and summary.scores is None:
        # too many rows to gather: decided from the merged summaries
        gates = sketch_metric_gates(summary.quality, inputs.policy.quality, inputs.model.classes)
    else:
        gates = metric_gates(
            inputs.labels,
            inputs.scores,
            inputs.policy.quality,
            inputs.task,
            inputs.model.classes,
            rows=inputs.rows,
        )
    return {g.metric: g for g in gates}


def slices(inputs: GateInputs) -> dict[str, GateResult]:
    """The slice gates by name (`quality.slice.COLUMN`)."""
    needs_labels(inputs)
    in_memory(inputs, "slices")
    gates = slice_gates(
        inputs.current,
        inputs.labels,
        inputs.scores,
        inputs.policy.quality,
        inputs.task,
        rows=inputs.rows,
    )
    return {g.name: g for g in gates}


def regression_baseline(inputs: GateInputs) -> GateResult:
    """A regressor must beat predicting the reference mean; SKIP (recorded) for other tasks."""
    if inputs.task != "regression" or not inputs.policy.quality.baseline:
        why = (
            "[quality] baseline = false"
            if inputs.policy.quality.baseline is False
            else (f"the baseline gate is for regressors; this model is {inputs.task}")
        )
        return GateResult("quality.baseline", Outcome.SKIP, "rmse difference", reason=why)
    needs_labels(inputs)
    in_memory(inputs, "baseline")
    return baseline_gate(inputs.labels, inputs.scores, inputs.reference_mean, inputs.policy.quality)


def champion_comparison(inputs: GateInputs) -> list[GateResult]:
    """The paired comparison with the champion on the same rows; SKIP (recorded) without one."""
    if inputs.champion is None:
        return [no_champion_gate()]
    needs_labels(inputs)
    in_memory(inputs, "compare")
    return compare_gates(
        inputs.labels,
        inputs.champion_scores,
        inputs.scores,
        inputs.policy.compare,
        inputs.policy.quality.decision_threshold,
        inputs.champion.info.uri,
        inputs.task,
    )


def _estimable(inputs: GateInputs) -> None:
    """Why quality cannot be estimated on this run, raised; nothing when it can."""
    if inputs.policy.quality.estimated is None:
        raise NotApplicable("[quality.estimated] enabled = false")
    in_memory(inputs, "estimated")
    if inputs.task == "regression":
        raise NotApplicable("estimated from class probabilities: for classifiers only")
    if not inputs.spec.has_reference:
        raise NotApplicable("no --reference: its labels are what says the model is calibrated")
    if inputs.target not in inputs.reference.columns:
        raise NotApplicable(
            f"the reference data has no {inputs.target!r} labels to check calibration"
        )


def estimated_quality(inputs: GateInputs) -> list[GateResult]:
    """The classification metrics estimated from the model's probabilities on the current
    data; the reference data's labels say whether the model is calibrated enough for it, and
    the current labels, once joined, show the realized value beside each estimate."""
    _estimable(inputs)
    task, threshold = inputs.task, inputs.policy.quality.decision_threshold
    scores = inputs.reference_scores
    count = scores.shape[1] if scores.ndim == 2 else 0
    reference_labels = task_labels(
        inputs.reference, inputs.target, task, inputs.model.classes, "reference data", count
    )
    calibration = metric_values(
        reference_labels, scores, ["calibration_error"], threshold, task=task
    )["calibration_error"][0]
    realized = None
    if not inputs.missing_labels and inputs.target in inputs.current.columns:
        names = [r.metric for r in inputs.policy.quality.rules(task) if r.metric in ESTIMABLE[task]]
        # one sort of the scores, not the rows the quality gates prepare for their intervals
        realized = realized_metrics(inputs.labels, inputs.scores, names, task, threshold)
    gates = estimated_gates(
        inputs.scores, float(calibration), inputs.policy.quality, task, realized
    )
    if not gates:
        raise NotApplicable(
            "none of the policy's metrics can be estimated (accuracy, precision, ...)"
        )
    return gates
