"""Quality gates: each metric of the task with a bootstrap interval, decided on the
pessimistic bound (no decision on fewer than [quality] min_rows labelled rows, nor on an
interval that collapsed to a point); slice gates that bound how far any category may trail
the overall metric; and, for a regressor, the baseline gate against predicting the reference
mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.errors import DataError
from mlcheck.policy import MetricThreshold, QualityPolicy, SlicePolicy
from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.stats.catalogue import METRICS, task_metrics
from mlcheck.stats.metrics import (
    COLLAPSED,
    MetricEstimate,
    Rows,
    metric_intervals,
    paired_difference,
    prepare_rows,
)
from mlcheck.stats.multiclass import class_counts
from mlcheck.stats.quality_sketch import QualitySketch, sketch_metrics
from mlcheck.stats.tasks import Task

__all__ = ["baseline_gate", "metric_gates", "sketch_metric_gates", "slice_gates"]


def _not_for_task(rule: MetricThreshold, task: Task) -> GateResult:
    return GateResult.error(
        f"quality.{rule.metric}",
        f"{rule.metric} is not a {task} metric; the policy's [quality.min]/[quality.max] for a "
        f"{task} model may use: {', '.join(task_metrics(task))}",
        metric=rule.metric,
    )


def _label_details(
    y_true: np.ndarray, y_score: np.ndarray, task: Task, classes: Sequence[Any] | None
) -> dict[str, Any]:
    """What the labels hold: positives (binary), per-class metrics (multiclass), the spread
    of the target (regression)."""
    if task == "binary":
        return {"positives": int(np.sum(y_true))}
    if task == "regression":
        return {"target_mean": float(np.mean(y_true)), "target_std": float(np.std(y_true))}
    return _class_details(class_counts(y_true, y_score), classes, y_score.shape[1])


def _sketch_label_details(sketch: QualitySketch, classes: Sequence[Any] | None) -> dict[str, Any]:
    """`_label_details` of a quality summary merged over partitions."""
    if sketch.task == "binary":
        return {"positives": int(sketch.labels[1])}
    if sketch.task == "regression":
        return {"target_mean": sketch.target_mean, "target_std": sketch.target_std}
    return _class_details(sketch.class_counts(), classes, sketch.classes)


def _class_details(
    per_class: dict[str, np.ndarray], classes: Sequence[Any] | None, k: int
) -> dict[str, Any]:
    names = list(classes) if classes is not None else list(range(k))
    return {
        "classes": {
            str(label): {key: float(per_class[key][i]) for key in ("precision", "recall", "f1")}
            | {"support": round(float(per_class["support"][i]))}
            for i, label in enumerate(names)
        }
    }


def _rule_errors(
    rules: Sequence[MetricThreshold], task: Task, zero_targets: int
) -> dict[str, GateResult]:
    """The rules that cannot be decided on this task or data, as ERROR gates."""
    results: dict[str, GateResult] = {}
    for rule in rules:
        if task not in METRICS[rule.metric].tasks:
            results[rule.metric] = _not_for_task(rule, task)
        elif rule.metric == "mape" and zero_targets:
            results[rule.metric] = GateResult.error(
                "quality.mape",
                f"mape is undefined: {zero_targets} target value(s) are 0 (a "
                "relative error of a 0 target is infinite); gate on mae or rmse instead",
                metric="mape",
            )
    return results


def _too_few_rows(
    rules: Sequence[MetricThreshold], results: dict[str, GateResult], rows: int, minimum: int
) -> None:
    """Every rule not yet decided is an ERROR when there are fewer than `minimum` rows."""
    if rows >= minimum:
        return
    for rule in rules:
        results.setdefault(
            rule.metric,
            _refused(rule, _few_rows(rows, minimum), {"rows": rows, "min_rows": minimum}),
        )


def _few_rows(rows: int, minimum: int) -> str:
    """Why a quality gate cannot decide on `rows` labelled rows, and the fix."""
    return (
        f"{rows} labelled rows in the current data, fewer than [quality] min_rows = {minimum}: "
        "the interval cannot be trusted; gate on more labelled rows or lower [quality] min_rows"
    )


def _refused(rule: MetricThreshold, reason: str, details: dict[str, Any]) -> GateResult:
    """The ERROR gate of a rule that cannot be decided on this data, and why."""
    return GateResult(
        name=f"quality.{rule.metric}",
        outcome=Outcome.ERROR,
        metric=rule.metric,
        threshold=rule.threshold,
        comparison=rule.comparison,
        reason=reason,
        details=details,
    )


def metric_gates(
    y_true: np.ndarray,
    y_score: np.ndarray,
    policy: QualityPolicy,
    task: Task = "binary",
    classes: Sequence[Any] | None = None,
    rows: Rows | None = None,
) -> list[GateResult]:
    """One gate per threshold of the task, passing only if the interval's bound passes.

    `y_score` is P(class 1) (binary), class probabilities (multiclass, labels are column
    indices; `classes` names them in the details) or predicted values (regression). `rows`:
    `prepare_rows` of them at the policy's threshold, when the run prepared them already.
    """
    rules = policy.rules(task)
    zeros = int(np.sum(y_true == 0)) if task == "regression" else 0
    results = _rule_errors(rules, task, zeros)
    _too_few_rows(rules, results, len(y_true), policy.min_rows)
    names = [rule.metric for rule in rules if rule.metric not in results]
    bootstrap = policy.bootstrap
    estimates = (
        metric_intervals(
            y_true,
            y_score,
            names,
            threshold=policy.decision_threshold,
            resamples=bootstrap.resamples,
            confidence=bootstrap.confidence,
            seed=bootstrap.seed,
            task=task,
            large_sample_rows=bootstrap.large_sample_rows,
            rows=rows,
        )
        if names
        else {}
    )
    about = {"task": task, "rows": len(y_true), **_label_details(y_true, y_score, task, classes)}
    return _decided(rules, results, estimates, about, policy)


def sketch_metric_gates(
    sketch: QualitySketch,
    policy: QualityPolicy,
    classes: Sequence[Any] | None = None,
) -> list[GateResult]:
    """`metric_gates` from a quality summary merged over partitions (large-sample intervals
    only: `sketch_metrics`); a metric it cannot give an interval for is an ERROR."""
    task = sketch.task
    rules = policy.rules(task)
    zeros = round(sketch.moments.mean[5] * sketch.rows) if task == "regression" else 0
    results = _rule_errors(rules, task, zeros)
    _too_few_rows(rules, results, sketch.rows, policy.min_rows)
    bootstrap = policy.bootstrap
    estimates: dict[str, MetricEstimate] = {}
    for rule in rules:
        if rule.metric in results:
            continue
        try:
            estimates |= sketch_metrics(
                sketch, [rule.metric], bootstrap.resamples, bootstrap.confidence, bootstrap.seed
            )
        except DataError as exc:
            results[rule.metric] = GateResult.error(
                f"quality.{rule.metric}", str(exc), metric=rule.metric
            )
    about = {"task": task, "rows": sketch.rows, **_sketch_label_details(sketch, classes)}
    return _decided(rules, results, estimates, about, policy)


def _decided(
    rules: Sequence[MetricThreshold],
    results: dict[str, GateResult],
    estimates: dict[str, MetricEstimate],
    about: dict[str, Any],
    policy: QualityPolicy,
) -> list[GateResult]:
    """Each rule's gate: its ERROR from `results`, else decided on its estimate's bound."""
    bootstrap = policy.bootstrap
    for rule in rules:
        if rule.metric in results:
            continue
        estimate = estimates[rule.metric]
        bound = estimate.pessimistic(rule.comparison.higher_is_better)
        details = {
            **about,
            "decided_on": "low" if rule.comparison.higher_is_better else "high",
            "bound": bound,
            "confidence": bootstrap.confidence,
            "interval": estimate.method,
            "resamples": estimate.resamples,
            "seed": bootstrap.seed,
        }
        if np.isnan(estimate.value):
            results[rule.metric] = _refused(
                rule,
                "undefined on this data (a single class, or a constant target?); "
                "evaluate on rows with every label",
                details,
            )
            continue
        if estimate.method == COLLAPSED:
            results[rule.metric] = _refused(
                rule,
                f"the interval collapsed to the single value {estimate.value:.4g} on these "
                f"{about['rows']} labelled rows and cannot be trusted (a perfect or constant "
                "model?); gate on more labelled rows, or check the labels and scores for a leak",
                details,
            )
            continue
        passed = rule.comparison.holds(bound, rule.threshold)
        reason = ""
        if not passed and rule.comparison.holds(estimate.value, rule.threshold):
            reason = (
                f"the value passes but the interval's {details['decided_on']} bound "
                f"{bound:.4f} does not: more rows would narrow it"
            )
        results[rule.metric] = GateResult(
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
    return [results[rule.metric] for rule in rules]


def baseline_gate(
    y_true: np.ndarray, y_pred: np.ndarray, reference_mean: float, policy: QualityPolicy
) -> GateResult:
    """A regressor must beat predicting the reference data's mean target on the current rows:
    the paired bootstrap interval of RMSE(model) - RMSE(mean) must lie below 0; fewer than
    [quality] min_rows rows cannot decide (ERROR)."""
    if len(y_true) < policy.min_rows:
        reason = _few_rows(len(y_true), policy.min_rows)
        return GateResult.error("quality.baseline", reason, "rmse difference vs the reference mean")
    bootstrap = policy.bootstrap
    estimate = paired_difference(
        y_true,
        np.full(len(y_true), reference_mean),
        y_pred,
        ["rmse"],
        resamples=bootstrap.resamples,
        confidence=bootstrap.confidence,
        seed=bootstrap.seed,
        task="regression",
    )["rmse"]
    passed = estimate.high < 0
    return GateResult(
        name="quality.baseline",
        outcome=Outcome.PASS if passed else Outcome.FAIL,
        metric="rmse difference vs the reference mean",
        value=estimate.value,
        threshold=0.0,
        comparison=Comparison.LT,
        interval=(estimate.low, estimate.high),
        reason=(
            f"RMSE {'below' if passed else 'not below'} that of predicting the reference mean "
            f"{reference_mean:.6g} on the same rows (the interval's high end is "
            f"{estimate.high:+.6g})"
        ),
        details={
            "rows": len(y_true),
            "reference_mean": reference_mean,
            "decided_on": "high",
            "confidence": bootstrap.confidence,
            "resamples": estimate.resamples,
            "seed": bootstrap.seed,
        },
    )


def _categories(column: pd.Series) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Each row's category code, the categories' names (missing values: `<missing>`) and
    their sizes, largest first."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    sizes = np.bincount(codes, minlength=len(uniques))
    names = ["<missing>" if pd.isna(u) else str(u) for u in uniques]
    by_size = np.argsort(-sizes, kind="stable")
    recode = np.empty(len(by_size), dtype=np.int64)
    recode[by_size] = np.arange(len(by_size))
    return recode[codes], [names[i] for i in by_size], sizes[by_size]


def _overall_undefined(name: str, metric: str, column: pd.Series, slice_metric: str) -> GateResult:
    """ERROR: the overall metric is undefined, so no slice can be compared with it."""
    return GateResult.error(
        name,
        f"{slice_metric} is undefined on this data (a single class?), so no slice of "
        f"{column.name!r} can be compared with it; evaluate on rows with both labels",
        metric=metric,
    )


def _no_large_slice(
    name: str, metric: str, column: pd.Series, sizes: np.ndarray, min_size: int
) -> GateResult:
    """ERROR: no category has `min_size` rows."""
    return GateResult.error(
        name,
        f"no category of {column.name!r} has {min_size} rows (largest: "
        f"{int(sizes.max()) if len(sizes) else 0}); lower quality.slices.min_size "
        "or evaluate on more rows",
        metric=metric,
    )


def _slice_gaps(
    codes: np.ndarray, rows: Rows, slices: int, overall: float, slice_metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """The metric of each of the first `slices` categories (by `codes`) and how far it
    trails `overall` (positive: worse; NaN where the slice's metric is undefined)."""
    in_order = codes[rows.order]  # the rows as `rows` holds them
    masks = (in_order[None, :] == np.arange(slices)[:, None]).astype(np.float64)
    per_slice = rows.metrics(masks, [slice_metric])[slice_metric]
    higher = METRICS[slice_metric].higher_is_better
    gaps = (overall - per_slice) if higher else (per_slice - overall)
    return per_slice, gaps


def _slice_table(
    large: list[str],
    counts: dict[str, int],
    per_slice: np.ndarray,
    gaps: np.ndarray,
    slice_metric: str,
) -> dict[str, dict[str, object]]:
    """Each large slice's rows, metric and gap; metric and gap null, with a reason, where
    the slice's metric is undefined."""
    why_undefined = f"{slice_metric} is undefined in this slice (a single class?)"
    return {
        c: (
            {"rows": int(counts[c]), slice_metric: float(v), "gap": float(g)}
            if not np.isnan(g)
            else {"rows": int(counts[c]), slice_metric: None, "gap": None, "reason": why_undefined}
        )
        for c, v, g in zip(large, per_slice, gaps, strict=True)
    }


def _no_slice_judged(
    name: str,
    metric: str,
    column: pd.Series,
    slices: int,
    rules: SlicePolicy,
    slice_metric: str,
    details: dict[str, Any],
) -> GateResult:
    """ERROR: every large slice's metric is undefined."""
    return GateResult(
        name=name,
        outcome=Outcome.ERROR,
        metric=metric,
        threshold=rules.max_gap,
        comparison=Comparison.LE,
        reason=f"no category of {column.name!r} can be judged: {slice_metric} is undefined "
        f"in each of its {slices} slice(s) of {rules.min_size}+ rows (a single class "
        "in each?); evaluate on rows with both labels in every category, or slice by "
        "another column",
        details=details,
    )


def _worst_slice_reason(
    column: pd.Series,
    category: str,
    size: int,
    value: float,
    overall: float,
    slice_metric: str,
    undefined: dict[str, int],
) -> str:
    """Names the worst slice, and the slices left out for an undefined metric."""
    reason = (
        f"worst slice {column.name}={category!r} ({size} rows, "
        f"{slice_metric}={value:.4f} vs {overall:.4f} overall)"
    )
    if undefined:
        reason += (
            f"; left out {', '.join(repr(c) for c in undefined)}: {slice_metric} is undefined "
            "there (a single class?)"
        )
    return reason


def _slice_gate(
    column: pd.Series,
    rows: Rows,
    overall: float,
    rules: SlicePolicy,
    task: Task,
) -> GateResult:
    """The worst gap between a large slice's metric and the overall one.

    ERROR when the overall metric is undefined (NaN: a single class in the data) or no large
    slice's metric is defined. A slice whose own metric is undefined (one class inside it) is
    listed in `details["undefined"]` (category -> rows; its row in `details["slices"]` has
    the metric and gap null and a reason) and left out of the worst-gap decision; the gate's
    reason names it.
    """
    name = f"quality.slice.{column.name}"
    slice_metric = rules.metric_for(task)
    metric = f"worst {slice_metric} gap"
    if np.isnan(overall):
        return _overall_undefined(name, metric, column, slice_metric)
    codes, categories, sizes = _categories(column)
    counts = dict(zip(categories, sizes.tolist(), strict=True))
    large = [c for c, size in counts.items() if size >= rules.min_size]
    if not large:
        return _no_large_slice(name, metric, column, sizes, rules.min_size)
    per_slice, gaps = _slice_gaps(codes, rows, len(large), overall, slice_metric)
    defined = ~np.isnan(gaps)
    undefined = {c: int(counts[c]) for c, ok in zip(large, defined, strict=True) if not ok}
    details = {
        "overall": overall,
        "slices": _slice_table(large, counts, per_slice, gaps, slice_metric),
        "too_small": {c: size for c, size in counts.items() if size < rules.min_size},
        "undefined": undefined,
        "min_size": rules.min_size,
    }
    if not defined.any():
        return _no_slice_judged(name, metric, column, len(large), rules, slice_metric, details)
    worst = int(np.argmax(np.where(defined, gaps, -np.inf)))
    reason = _worst_slice_reason(
        column,
        large[worst],
        int(counts[large[worst]]),
        per_slice[worst],
        overall,
        slice_metric,
        undefined,
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
    frame: pd.DataFrame,
    y_true: np.ndarray,
    y_score: np.ndarray,
    policy: QualityPolicy,
    task: Task = "binary",
    rows: Rows | None = None,
) -> list[GateResult]:
    """One gate per configured slice column; a missing column is an ERROR naming it. `rows`:
    as `metric_gates` takes them."""
    rules = policy.slices
    if rules is None:
        return []
    metric = rules.metric_for(task)
    if task not in METRICS[metric].tasks:
        return [
            GateResult.error(
                f"quality.slice.{column}",
                f"quality.slices.metric={metric!r} is not a {task} metric; use one of: "
                f"{', '.join(task_metrics(task))}",
                metric=f"worst {metric} gap",
            )
            for column in rules.columns
        ]
    if rows is None:
        rows = prepare_rows(task, y_true, y_score, policy.decision_threshold)
    overall = float(rows.metrics(np.ones((1, len(rows.order))), [metric])[metric][0])
    results = []
    for column in rules.columns:
        if column not in frame.columns:
            results.append(
                GateResult.error(
                    f"quality.slice.{column}",
                    f"column {column!r} of quality.slices.columns is not in the current data; "
                    "fix the policy's slice columns",
                    metric=f"worst {metric} gap",
                )
            )
            continue
        results.append(_slice_gate(frame[column], rows, overall, rules, task))
    return results
