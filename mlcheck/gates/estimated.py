"""Estimated quality gates (`quality.estimated.<metric>`): the metrics the labels are expected
to show, from the model's probabilities on the current data, decided on the interval's
pessimistic end against each metric's own threshold; WARN by default (an estimate, not a
measurement), and unable to decide when the reference shows the model is not calibrated.
From `[quality] large_sample_rows` rows on the interval is in closed form (the delta method)
instead of from drawn label sets."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mlcheck.policy import EstimatedPolicy, QualityPolicy
from mlcheck.results import GateResult, Outcome
from mlcheck.stats.estimated import ESTIMABLE, estimated_metrics
from mlcheck.stats.tasks import Task

__all__ = ["estimated_gates"]

METHOD = "confidence-based estimation (CBPE): expected confusion counts of a calibrated model"


def estimated_gates(
    scores: np.ndarray,
    reference_calibration_error: float,
    policy: QualityPolicy,
    task: Task,
    realized: Mapping[str, float] | None = None,
) -> list[GateResult]:
    """One gate per threshold of the task that can be estimated; `realized` (once labels
    are joined) is shown beside the estimate."""
    estimated: EstimatedPolicy | None = policy.estimated
    assert estimated is not None, "the caller skips when [quality.estimated] is disabled"
    rules = [rule for rule in policy.rules(task) if rule.metric in ESTIMABLE.get(task, ())]
    names = [rule.metric for rule in rules]
    if not names:
        return []
    limit = estimated.max_reference_calibration_error
    about = {
        "method": METHOD,
        "reference_calibration_error": reference_calibration_error,
        "max_reference_calibration_error": limit,
        "rows": len(scores),
    }
    worse = Outcome.when_not_held(estimated.outcome)
    if not reference_calibration_error <= limit:
        reason = (
            f"the model is not calibrated on the reference data (calibration error "
            f"{reference_calibration_error:.3f} > {limit:g}), so its probabilities cannot "
            "estimate the labels; wait for labels, or recalibrate the model"
        )
        # no estimate: an advisory gate says so; a blocking one cannot decide
        undecided = Outcome.WARN if worse is Outcome.WARN else Outcome.ERROR
        return [
            GateResult(f"quality.estimated.{n}", undecided, n, reason=reason, details=about)
            for n in names
        ]
    bootstrap = policy.bootstrap
    values = estimated_metrics(
        scores,
        names,
        task,
        policy.decision_threshold,
        estimated.draws,
        bootstrap.confidence,
        bootstrap.seed,
        bootstrap.large_sample_rows,
    )
    out = []
    for rule in rules:
        estimate = values[rule.metric]
        bound = estimate.pessimistic(rule.comparison.higher_is_better)
        passed = rule.comparison.holds(bound, rule.threshold)
        # the interval: from drawn label sets, or from [quality] large_sample_rows rows on in
        # closed form (the delta method; 0 draws)
        details = {
            **about,
            "bound": bound,
            "interval": estimate.method,
            "draws": estimate.resamples,
        }
        if realized is not None and rule.metric in realized:
            details["realized"] = realized[rule.metric]
        out.append(
            GateResult(
                name=f"quality.estimated.{rule.metric}",
                outcome=Outcome.PASS if passed else worse,
                metric=rule.metric,
                value=estimate.value,
                threshold=rule.threshold,
                comparison=rule.comparison,
                interval=(estimate.low, estimate.high),
                reason="" if passed else "expected from the probabilities; labels will tell",
                details=details,
            )
        )
    return out
