"""Column drift: mlcheck's vectorised statistics against Evidently's DataDriftPreset.

Both run in this process, one after the other, on the same bank-marketing-like frames: the
reference is `generate(rows, seed=1)`, the current is `generate(rows, seed=2)` with `duration`
30% longer and a quarter of the jobs turned into "student" (so some columns drift, most not).
The report gives both times and their ratio, mlcheck's peak extra memory (tracemalloc, in a
second, separately timed run) against the size of the two frames, and whether every column's
method, statistic (to 1e-6) and verdict, and the dataset verdict, agree.
Run: `.venv/bin/python benchmarks/bench_drift.py [--rows 1000000] [--object-categories]`.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from mlcheck.data.bank import generate
from mlcheck.stats.drift import METHODS, ColumnDrift, dataset_drift, frame_drift

NUMERIC = ["age", "balance", "duration", "campaign", "pdays", "previous"]
CATEGORICAL = ["job", "marital", "education", "default", "housing", "loan", "contact", "poutcome"]
KINDS = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}
TOLERANCE = 1e-6


def frames(rows: int, object_categories: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = generate(rows, seed=1)[list(KINDS)]
    current = generate(rows, seed=2)[list(KINDS)]
    current["duration"] = current["duration"] * 1.3
    job = current["job"].to_numpy(dtype=object)
    job[np.random.default_rng(3).random(rows) < 0.25] = "student"
    current["job"] = pd.Categorical(job, categories=current["job"].cat.categories)
    if object_categories:  # plain Python strings instead of pandas Categoricals
        for frame in (reference, current):
            frame[CATEGORICAL] = frame[CATEGORICAL].astype(object)
    return reference, current


def run_evidently(
    reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[float, dict[str, tuple[str, float, bool]], bool]:
    """Seconds for Report.run, then per column (method, drift score, drifted), dataset verdict."""
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        snapshot = Report([DataDriftPreset()], include_tests=True).run(cur, ref)
        seconds = time.perf_counter() - started
    result = snapshot.dict()
    failed = {t["metric_config"]["metric_id"]: t["status"] == "FAIL" for t in result["tests"]}
    by_label = {spec.display_name: name for name, spec in METHODS.items()}
    columns, dataset = {}, False
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method = by_label.get(config["method"], config["method"])
            columns[config["column"]] = (method, float(metric["value"]), failed[metric["id"]])
        else:  # DriftedColumnsCount: its test fails when the drifted share reaches drift_share
            dataset = failed[metric["id"]]
    return seconds, columns, dataset


def compare(ours: list[ColumnDrift], theirs: dict[str, tuple[str, float, bool]]) -> list[str]:
    problems = []
    for drift in ours:
        method, score, drifted = theirs[drift.column]
        gap = abs(drift.statistic - score)
        if method != drift.method or gap > TOLERANCE * max(1.0, abs(score)):
            problems.append(f"{drift.column}: {drift.method}={drift.statistic!r} vs {score!r}")
        if drifted != drift.drifted:
            problems.append(f"{drift.column}: verdict {drift.drifted} vs Evidently {drifted}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--object-categories",
        action="store_true",
        help="categorical columns as object (str) instead of pandas Categorical",
    )
    args = parser.parse_args()
    reference, current = frames(args.rows, args.object_categories)
    data_bytes = int(
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    )

    started = time.perf_counter()
    ours = frame_drift(reference, current, KINDS)
    our_seconds = time.perf_counter() - started
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    frame_drift(reference, current, KINDS)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()

    their_seconds, theirs, their_dataset = run_evidently(reference, current)
    problems = compare(ours, theirs)
    share, our_dataset = dataset_drift(ours)
    if our_dataset != their_dataset:
        problems.append(f"dataset verdict {our_dataset} vs Evidently {their_dataset}")

    categories = "object" if args.object_categories else "category"
    print(
        f"rows={args.rows:,} columns={len(KINDS)} ({len(NUMERIC)} numeric, "
        f"{len(CATEGORICAL)} categorical as {categories})"
    )
    print(f"mlcheck frame_drift: {our_seconds:.3f} s")
    print(f"Evidently DataDriftPreset: {their_seconds:.2f} s")
    print(f"speed-up: {their_seconds / our_seconds:.1f}x")
    print(
        f"mlcheck peak extra memory: {peak / 2**20:.1f} MiB = {peak / data_bytes:.2f}x "
        f"the frames' {data_bytes / 2**20:.1f} MiB"
    )
    drifted = ", ".join(d.column for d in ours if d.drifted) or "none"
    print(f"drifted columns: {drifted} (share {share:.3f}, dataset drift {our_dataset})")
    for drift in ours:
        print(f"  {drift.column:<10} {drift.method:<13} {drift.statistic:.9g}")
    if problems:
        print("DISAGREEMENT with Evidently:")
        for problem in problems:
            print(f"  {problem}")
        raise SystemExit(1)
    print(f"agreement: every method, statistic (to {TOLERANCE:g}) and verdict matches Evidently")


if __name__ == "__main__":
    main()
