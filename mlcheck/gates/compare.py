"""Champion vs challenger: a paired bootstrap of each metric's difference on the same rows,
judged against a non-inferiority margin. With no champion yet, the gate says so and only
the absolute quality gates decide."""

from __future__ import annotations

import numpy as np

from mlcheck.policy import ComparePolicy
from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.stats.catalogue import METRICS, task_metrics
from mlcheck.stats.metrics import paired_difference
from mlcheck.stats.tasks import Task

__all__ = ["compare_gates", "no_champion_gate"]


NO_CHAMPION = (
    "no champion to compare with (pass --champion URI, or gate models:/NAME@ALIAS with a "
    "version under @champion); the absolute quality gates decide"
)


def no_champion_gate(reason: str = NO_CHAMPION) -> GateResult:
    """SKIP: with no champion yet, only the absolute quality gates decide."""
    return GateResult("compare.champion", Outcome.SKIP, "difference", reason=reason)


def compare_gates(
    y_true: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    policy: ComparePolicy,
    threshold: float = 0.5,
    champion_name: str = "champion",
    task: Task = "binary",
) -> list[GateResult]:
    """One gate per metric: the challenger may trail the champion by at most the margin.

    The difference is challenger minus champion; a gate decides on the interval's pessimistic
    end (the low end for AUC and accuracy, the high end for log loss).
    """
    margins = dict(policy.margins_for(task))
    wrong = [metric for metric in margins if task not in METRICS[metric].tasks]
    if wrong:
        return [
            GateResult.error(
                f"compare.{metric}",
                f"[compare] margin_{metric}: {metric} is not a {task} metric; use margin_<metric> "
                f"with one of: {', '.join(task_metrics(task))}",
                metric=f"{metric} difference",
            )
            for metric in wrong
        ]
    estimates = paired_difference(
        y_true,
        champion,
        challenger,
        list(margins),
        threshold=threshold,
        resamples=policy.bootstrap.resamples,
        confidence=policy.bootstrap.confidence,
        seed=policy.bootstrap.seed,
        task=task,
    )
    results = []
    for metric, margin in margins.items():
        estimate = estimates[metric]
        higher = METRICS[metric].higher_is_better
        comparison = Comparison.GE if higher else Comparison.LE
        limit = -margin if higher else margin
        bound = estimate.low if higher else estimate.high
        passed = comparison.holds(bound, limit)
        behind = estimate.value < 0 if higher else estimate.value > 0
        reason = (
            f"vs {champion_name}: the challenger is {'behind' if behind else 'level or ahead'} "
            f"by {abs(estimate.value):.4f}; the interval's {'low' if higher else 'high'} end is "
            f"{bound:+.4f}, the margin {limit:+.4f}"
        )
        results.append(
            GateResult(
                name=f"compare.{metric}",
                outcome=Outcome.PASS if passed else Outcome.FAIL,
                metric=f"{metric} difference",
                value=estimate.value,
                threshold=limit,
                comparison=comparison,
                interval=(estimate.low, estimate.high),
                reason=reason,
                details={
                    "task": task,
                    "rows": len(y_true),
                    "resamples": estimate.resamples,
                    "champion": champion_name,
                },
            )
        )
    return results
