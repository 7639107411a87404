"""Quality gates: each metric with a bootstrap interval, decided on the pessimistic bound,
and slice gates that bound how far any category may trail the overall metric."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcheck.policy import QualityPolicy, SlicePolicy
from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.stats.metrics import METRICS, bootstrap_metrics, metric_values

__all__ = ["metric_gates", "slice_gates"]


def metric_gates(
    y_true: np.ndarray,
    y_score: np.ndarray,
    policy: QualityPolicy,
) -> list[GateResult]:
    """One gate per threshold in the policy, passing only if the interval's bound passes."""
    names = [t.metric for t in policy.thresholds]
    bootstrap = policy.bootstrap
    estimates = bootstrap_metrics(
        y_true,
        y_score,
        names,
        threshold=policy.decision_threshold,
        resamples=bootstrap.resamples,
        confidence=bootstrap.confidence,
        seed=bootstrap.seed,
    )
    results = []
    for rule in policy.thresholds:
        estimate = estimates[rule.metric]
        bound = estimate.pessimistic(rule.comparison.higher_is_better)
        details = {
            "rows": len(y_true),
            "positives": int(np.sum(y_true)),
            "decided_on": "low" if rule.comparison.higher_is_better else "high",
            "bound": bound,
            "confidence": bootstrap.confidence,
            "resamples": estimate.resamples,
            "seed": bootstrap.seed,
        }
        if np.isnan(estimate.value):
            results.append(
                GateResult(
                    name=f"quality.{rule.metric}",
                    outcome=Outcome.ERROR,
                    metric=rule.metric,
                    threshold=rule.threshold,
                    comparison=rule.comparison,
                    reason="undefined on this data (a single class?); "
                    "evaluate on rows with both labels",
                    details=details,
                )
            )
            continue
        passed = rule.comparison.holds(bound, rule.threshold)
        reason = ""
        if not passed and rule.comparison.holds(estimate.value, rule.threshold):
            reason = (
                f"the value passes but the interval's {details['decided_on']} bound "
                f"{bound:.4f} does not: more rows would narrow it"
            )
        results.append(
            GateResult(
                name=f"quality.{rule.metric}",
                outcome=Outcome.PASS if passed else Outcome.FAIL,
                metric=rule.metric,
                value=estimate.value,
                threshold=rule.threshold,
                comparison=rule.comparison,
                interval=(estimate.low, estimate.high),
                reason=reason,
                details=details,
            )
        )
    return results


def _slice_gate(
    column: pd.Series,
    y_true: np.ndarray,
    y_score: np.ndarray,
    overall: float,
    rules: SlicePolicy,
    decision_threshold: float,
) -> GateResult:
    name = f"quality.slice.{column.name}"
    higher = METRICS[rules.metric].higher_is_better
    values = column.astype("string").fillna("<missing>")
    counts = values.value_counts()
    large = [str(c) for c, size in counts.items() if size >= rules.min_size]
    small = {str(c): int(size) for c, size in counts.items() if size < rules.min_size}
    if not large:
        return GateResult.error(
            name,
            f"no category of {column.name!r} has {rules.min_size} rows (largest: "
            f"{int(counts.max()) if len(counts) else 0}); lower quality.slices.min_size "
            "or evaluate on more rows",
            metric=f"worst {rules.metric} gap",
        )
    masks = np.vstack([(values == c).to_numpy() for c in large]).astype(np.float64)
    per_slice = metric_values(y_true, y_score, [rules.metric], decision_threshold, masks)[
        rules.metric
    ]
    gaps = (overall - per_slice) if higher else (per_slice - overall)
    gaps = np.where(np.isnan(gaps), np.inf, gaps)
    worst = int(np.argmax(gaps))
    table = {
        c: {"rows": int(counts[c]), rules.metric: float(v), "gap": float(g)}
        for c, v, g in zip(large, per_slice, gaps, strict=True)
    }
    return GateResult.judged(
        name,
        f"worst {rules.metric} gap",
        float(gaps[worst]),
        rules.max_gap,
        Comparison.LE,
        reason=f"worst slice {column.name}={large[worst]!r} ({int(counts[large[worst]])} rows, "
        f"{rules.metric}={per_slice[worst]:.4f} vs {overall:.4f} overall)",
        details={
            "overall": overall,
            "slices": table,
            "too_small": small,
            "min_size": rules.min_size,
        },
    )


def slice_gates(
    frame: pd.DataFrame, y_true: np.ndarray, y_score: np.ndarray, policy: QualityPolicy
) -> list[GateResult]:
    """One gate per configured slice column; a missing column is an ERROR naming it."""
    rules = policy.slices
    if rules is None:
        return []
    overall = float(
        metric_values(y_true, y_score, [rules.metric], policy.decision_threshold)[rules.metric][0]
    )
    results = []
    for column in rules.columns:
        if column not in frame.columns:
            results.append(
                GateResult.error(
                    f"quality.slice.{column}",
                    f"column {column!r} of quality.slices.columns is not in the current data; "
                    "fix the policy's slice columns",
                    metric=f"worst {rules.metric} gap",
                )
            )
            continue
        results.append(
            _slice_gate(frame[column], y_true, y_score, overall, rules, policy.decision_threshold)
        )
    return results
