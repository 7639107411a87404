"""Bootstrap intervals: mlcheck's vectorised bootstrap against a per-resample scikit-learn loop,
and the multiclass and regression intervals against the binary ones.

All run in this process, side by side, on the same number of rows; the report is the ratio of
their times (absolute times vary on a shared 2-core machine, the ratios much less).
Run: `.venv/bin/python benchmarks/bench_bootstrap.py [--rows 100000] [--resamples 1000]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import metrics as skm

from mlcheck.policy import DEFAULT_THRESHOLDS
from mlcheck.stats.metrics import bootstrap_metrics, task_metrics

NAMES = ["accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier"]


def naive(y: np.ndarray, p: np.ndarray, resamples: int, seed: int = 0) -> None:
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


def _timed(*args, **kwargs) -> float:
    started = time.perf_counter()
    bootstrap_metrics(*args, **kwargs)
    return time.perf_counter() - started


def tasks(rows: int, resamples: int, classes: int = 3) -> None:
    """Each task's intervals at `rows` rows as a ratio of the binary task's time: for the
    metrics each task gates by default, and for every metric of the task."""
    rng = np.random.default_rng(1)
    y = (rng.random(rows) < 0.12).astype(int)
    p = np.clip(rng.beta(2, 8, rows) + 0.35 * y, 0, 1)
    labels = rng.integers(0, classes, rows)
    probabilities = rng.dirichlet(np.ones(classes), rows) + 0.5 * np.eye(classes)[labels]
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    target = rng.normal(100, 20, rows)
    values = target + rng.normal(0, 5, rows)
    data = {"binary": (y, p), "multiclass": (labels, probabilities), "regression": (target, values)}
    for which in ("default", "every"):
        times = {}
        for task, (truth, scores) in data.items():
            if which == "default":
                names = [t.metric for t in DEFAULT_THRESHOLDS[task]]
            else:
                names = task_metrics(task)
            times[task] = _timed(truth, scores, names, resamples=resamples, task=task)
        label = {"default": "the default metrics", "every": "every metric"}[which]
        print(f"{label} of each task, {resamples} resamples x {rows:,} rows:")
        for task, seconds in times.items():
            ratio = seconds / times["binary"]
            print(f"  {task}: {seconds:.2f} s = {ratio:.2f}x binary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--naive-resamples", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = (rng.random(args.rows) < 0.12).astype(int)
    p = np.clip(rng.beta(2, 8, args.rows) + 0.35 * y, 0, 1)

    started = time.perf_counter()
    bootstrap_metrics(y, p, NAMES, resamples=args.resamples)
    ours = (time.perf_counter() - started) / args.resamples
    started = time.perf_counter()
    naive(y, p, args.naive_resamples)
    theirs = (time.perf_counter() - started) / args.naive_resamples
    print(f"rows={args.rows:,} metrics={len(NAMES)}")
    print(f"mlcheck bootstrap: {args.resamples} resamples in {ours * args.resamples:.2f} s")
    print(f"scikit-learn loop: {theirs * 1000:.1f} ms per resample ({args.naive_resamples} timed)")
    print(f"speed-up per resample: {theirs / ours:.1f}x")
    tasks(args.rows, args.resamples)


if __name__ == "__main__":
    main()
