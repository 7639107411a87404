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
from mlcheck.run.scores import Scores
from mlcheck.run.summaries import engine_summary
from mlcheck.stats.estimated import ESTIMABLE, realized_metrics
from mlcheck.stats.metrics import metric_values

__all__ = [
    "champion_comparison",
    "estimated_quality",
    "quality_metrics",
    "regression_baseline",
    "slices",
]


def quality_metrics(scores: Scores) -> dict[str, GateResult]:
    """Each policy metric of the model's task with its interval, by metric name: from the rows
    in memory, or over partitions from their merged summaries (their rows gathered when few)."""
    needs_labels(scores.data)
    policy = scores.spec.policy.quality
    sketch = engine_summary(scores).quality_sketch()
    if sketch is not None:  # too many rows to gather: decided from the merged summaries
        gates = sketch_metric_gates(sketch, policy, scores.model.classes)
    else:
        gates = metric_gates(
            scores.labels,
            scores.scores,
            policy,
            scores.task,
            scores.model.classes,
            rows=scores.rows,
        )
    return {g.metric: g for g in gates}


def slices(scores: Scores) -> dict[str, GateResult]:
    """The slice gates by name (`quality.slice.COLUMN`)."""
    needs_labels(scores.data)
    in_memory(scores.spec, "slices")
    gates = slice_gates(
        scores.data.current,
        scores.labels,
        scores.scores,
        scores.spec.policy.quality,
        scores.task,
        rows=scores.rows,
    )
    return {g.name: g for g in gates}


def regression_baseline(scores: Scores) -> GateResult:
    """A regressor must beat predicting the reference mean; SKIP (recorded) for other tasks."""
    policy = scores.spec.policy.quality
    if scores.task != "regression" or not policy.baseline:
        why = (
            "[quality] baseline = false"
            if policy.baseline is False
            else (f"the baseline gate is for regressors; this model is {scores.task}")
        )
        return GateResult("quality.baseline", Outcome.SKIP, "rmse difference", reason=why)
    needs_labels(scores.data)
    in_memory(scores.spec, "baseline")
    return baseline_gate(scores.labels, scores.scores, scores.reference_mean, policy)


def champion_comparison(scores: Scores) -> list[GateResult]:
    """The paired comparison with the champion on the same rows; SKIP (recorded) without one."""
    if scores.champion is None:
        return [no_champion_gate()]
    needs_labels(scores.data)
    in_memory(scores.spec, "compare")
    policy = scores.spec.policy
    return compare_gates(
        scores.labels,
        scores.champion_scores,
        scores.scores,
        policy.compare,
        policy.quality.decision_threshold,
        scores.champion.info.uri,
        scores.task,
    )


def _estimable(scores: Scores) -> None:
    """Why quality cannot be estimated on this run, raised; nothing when it can."""
    if scores.spec.policy.quality.estimated is None:
        raise NotApplicable("[quality.estimated] enabled = false")
    in_memory(scores.spec, "estimated")
    if scores.task == "regression":
        raise NotApplicable("estimated from class probabilities: for classifiers only")
    if not scores.spec.has_reference:
        raise NotApplicable("no --reference: its labels are what says the model is calibrated")
    if scores.data.target not in scores.data.reference.columns:
        raise NotApplicable(
            f"the reference data has no {scores.data.target!r} labels to check calibration"
        )


def estimated_quality(scores: Scores) -> list[GateResult]:
    """The classification metrics estimated from the model's probabilities on the current
    data; the reference data's labels say whether the model is calibrated enough for it, and
    the current labels, once joined, show the realized value beside each estimate."""
    _estimable(scores)
    data, quality = scores.data, scores.spec.policy.quality
    task, threshold = scores.task, quality.decision_threshold
    reference = scores.reference_scores
    count = reference.shape[1] if reference.ndim == 2 else 0
    reference_labels = task_labels(
        data.reference, data.target, task, scores.model.classes, "reference data", count
    )
    calibration = metric_values(
        reference_labels, reference, ["calibration_error"], threshold, task=task
    )["calibration_error"][0]
    realized = None
    if not data.missing_labels and data.target in data.current.columns:
        names = [r.metric for r in quality.rules(task) if r.metric in ESTIMABLE[task]]
        # one sort of the scores, not the rows the quality gates prepare for their intervals
        realized = realized_metrics(scores.labels, scores.scores, names, task, threshold)
    gates = estimated_gates(scores.scores, float(calibration), quality, task, realized)
    if not gates:
        raise NotApplicable(
            "none of the policy's metrics can be estimated (accuracy, precision, ...)"
        )
    return gates
