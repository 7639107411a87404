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
    """The worst gap between a large slice's metric and the overall one.

    ERROR when the overall metric is undefined (NaN: a single class in the data) or no large
    slice's metric is defined. A slice whose own metric is undefined (one class inside it) is
    listed in `details["undefined"]` (category -> rows; its row in `details["slices"]` has
    the metric and gap null and a reason) and left out of the worst-gap decision; the gate's
    reason names it.
    """
    name = f"quality.slice.{column.name}"
    metric = f"worst {rules.metric} gap"
    if np.isnan(overall):
        return GateResult.error(
            name,
            f"{rules.metric} is undefined on this data (a single class?), so no slice of "
            f"{column.name!r} can be compared with it; evaluate on rows with both labels",
            metric=metric,
        )
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
            metric=metric,
        )
    masks = np.vstack([(values == c).to_numpy() for c in large]).astype(np.float64)
    per_slice = metric_values(y_true, y_score, [rules.metric], decision_threshold, masks)[
        rules.metric
    ]
    gaps = (overall - per_slice) if higher else (per_slice - overall)
    defined = ~np.isnan(gaps)
    undefined = {c: int(counts[c]) for c, ok in zip(large, defined, strict=True) if not ok}
    why_undefined = f"{rules.metric} is undefined in this slice (a single class?)"
    table: dict[str, dict[str, object]] = {
        c: (
            {"rows": int(counts[c]), rules.metric: float(v), "gap": float(g)}
            if ok
            else {"rows": int(counts[c]), rules.metric: None, "gap": None, "reason": why_undefined}
        )
        for c, v, g, ok in zip(large, per_slice, gaps, defined, strict=True)
    }
    details = {
        "overall": overall,
        "slices": table,
        "too_small": small,
        "undefined": undefined,
        "min_size": rules.min_size,
    }
    if not defined.any():
        return GateResult(
            name=name,
            outcome=Outcome.ERROR,
            metric=metric,
            threshold=rules.max_gap,
            comparison=Comparison.LE,
            reason=f"no category of {column.name!r} can be judged: {rules.metric} is undefined "
            f"in each of its {len(large)} slice(s) of {rules.min_size}+ rows (a single class "
            "in each?); evaluate on rows with both labels in every category, or slice by "
            "another column",
            details=details,
        )
    worst = int(np.argmax(np.where(defined, gaps, -np.inf)))
    reason = (
        f"worst slice {column.name}={large[worst]!r} ({int(counts[large[worst]])} rows, "
        f"{rules.metric}={per_slice[worst]:.4f} vs {overall:.4f} overall)"
    )
    if undefined:
        reason += (
            f"; left out {', '.join(repr(c) for c in undefined)}: {rules.metric} is undefined "
            "there (a single class?)"
        )
    return GateResult.judged(
        name,
        metric,
        float(gaps[worst]),
        rules.max_gap,
        Comparison.LE,
        reason=reason,
        details=details,
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
