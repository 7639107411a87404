"""Quality intervals: mlcheck's vectorised bootstrap against a per-resample scikit-learn loop,
the paired compare, each task against the binary one, and the large-sample intervals that
replace the bootstrap from 100,000 rows on.

All run in this process, side by side, on the same rows; read the ratios (absolute times vary
on a shared 2-core machine, the ratios much less).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlcheck.bench.report import Section, markdown_table
from mlcheck.policy import DEFAULT_THRESHOLDS
from mlcheck.stats.catalogue import task_metrics
from mlcheck.stats.metrics import bootstrap_metrics, large_sample_metrics, paired_difference
from mlcheck.stats.tasks import Task

__all__ = ["bootstrap_section"]

NAMES = ["accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier"]


def naive(y: np.ndarray, p: np.ndarray, resamples: int, seed: int = 0) -> None:
    """What a user would write: draw rows, call scikit-learn's metrics, repeat."""
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        ys, ps = y[idx], p[idx]
        pred = ps >= 0.5
        skm.accuracy_score(ys, pred)
        skm.roc_auc_score(ys, ps)
        skm.f1_score(ys, pred)
        skm.precision_score(ys, pred)
        skm.recall_score(ys, pred)
        skm.log_loss(ys, ps)
        skm.brier_score_loss(ys, ps)


def _seconds(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _binary(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.12).astype(int)
    return y, np.clip(rng.beta(2, 8, rows) + 0.35 * y, 0, 1)


def _tasks(rows: int, resamples: int, classes: int = 3) -> dict[str, dict[str, float]]:
    """Each task's bootstrap time as a ratio of the binary task's: for the metrics each task
    gates by default, and for every metric of the task."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, classes, rows)
    probabilities = rng.dirichlet(np.ones(classes), rows) + 0.5 * np.eye(classes)[labels]
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    target = rng.normal(100, 20, rows)
    data: dict[Task, tuple[np.ndarray, np.ndarray]] = {
        "binary": _binary(rows, 1),
        "multiclass": (labels, probabilities),
        "regression": (target, target + rng.normal(0, 5, rows)),
    }
    out: dict[str, dict[str, float]] = {}
    for which in ("default", "every"):
        times = {}
        for task, (truth, scores) in data.items():
            names = (
                [t.metric for t in DEFAULT_THRESHOLDS[task]]
                if which == "default"
                else task_metrics(task)
            )
            started = time.perf_counter()
            bootstrap_metrics(truth, scores, names, resamples=resamples, task=task)
            times[task] = time.perf_counter() - started
        out[which] = {task: seconds / times["binary"] for task, seconds in times.items()}
    return out


def bootstrap_section(
    rows: int = 100_000, resamples: int = 1000, naive_resamples: int = 30, large_rows: int = 10**6
) -> Section:
    y, p = _binary(rows)
    ours = _seconds(lambda: bootstrap_metrics(y, p, NAMES, resamples=resamples))
    theirs = _seconds(lambda: naive(y, p, naive_resamples)) / naive_resamples * resamples
    rng = np.random.default_rng(2)
    other = np.clip(p + rng.normal(0, 0.05, rows), 0, 1)
    paired = _seconds(lambda: paired_difference(y, p, other, NAMES, resamples=resamples))
    tasks = _tasks(rows, resamples)
    big_y, big_p = _binary(large_rows, 3)
    few = max(10, resamples // 10)
    sampled = _seconds(lambda: bootstrap_metrics(big_y, big_p, NAMES, resamples=few))
    large = _seconds(lambda: large_sample_metrics(big_y, big_p, NAMES, draws=resamples))
    data = {
        "rows": rows,
        "resamples": resamples,
        "metrics": NAMES,
        "mlcheck_bootstrap_s": ours,
        "sklearn_loop_s": theirs,
        "sklearn_loop_timed_resamples": naive_resamples,
        "speedup_vs_sklearn": theirs / ours,
        "paired_compare_s": paired,
        "paired_vs_single": paired / ours,
        "task_ratio_vs_binary": tasks,
        "large_rows": large_rows,
        "bootstrap_at_large_rows_s": sampled * resamples / few,
        "bootstrap_at_large_rows_timed_resamples": few,
        "large_sample_at_large_rows_s": large,
        "large_sample_speedup": sampled * resamples / few / large,
    }
    lines = markdown_table(
        ["what", "seconds", "ratio"],
        [
            (f"mlcheck bootstrap, {resamples} resamples x {rows:,} rows", ours, "1"),
            (
                f"scikit-learn loop (timed on {naive_resamples} resamples)",
                theirs,
                f"{theirs / ours:.1f}x slower",
            ),
            ("paired compare (two models, same resamples)", paired, f"{paired / ours:.2f}x"),
            (
                f"bootstrap at {large_rows:,} rows (timed on {few} resamples)",
                data["bootstrap_at_large_rows_s"],
                "1",
            ),
            (
                f"large-sample intervals at {large_rows:,} rows",
                large,
                f"{data['large_sample_speedup']:.0f}x faster",
            ),
        ],
    )
    lines.append("")
    for which, label in (("default", "default gate metrics"), ("every", "every metric")):
        ratios = ", ".join(f"{t} {r:.2f}x" for t, r in tasks[which].items() if t != "binary")
        lines.append(f"- {label} of each task vs binary: {ratios}")
    return Section("bootstrap", "Quality intervals", data, lines)
