"""The Dask engine: partition summaries merge to what the in-memory engine computes, binned
statistics hold their bounds, and on a real LocalCluster both engines reach the same verdicts;
a worker that dies mid-run is an error (exit 2), not a hang or a pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcheck.data.bank import generate
from mlcheck.data.io import read_table, write_table
from mlcheck.data.partitions import parquet_rows, partition_files, sample_partitions
from mlcheck.data.scenarios import apply_scenario
from mlcheck.engine.dask import DaskEngine, quiet
from mlcheck.errors import ConfigError, DataError, InfrastructureError
from mlcheck.gates.quality import metric_gates, sketch_metric_gates
from mlcheck.policy import MetricThreshold, QualityPolicy
from mlcheck.results import Comparison
from mlcheck.run.options import RunOptions
from mlcheck.run.parts import Run
from mlcheck.schema import infer_schema, merge_violation_groups, violation_groups
from mlcheck.serving.process import free_port
from mlcheck.stats.catalogue import task_metrics
from mlcheck.stats.drift import column_data, columns_drift, frame_drift
from mlcheck.stats.metrics import large_sample_metrics
from mlcheck.stats.moments import Moments
from mlcheck.stats.quality_sketch import QualitySketch, sketch_metrics
from mlcheck.stats.sketch import bin_counts, bin_plan, merged_column, sketch
from tests.gate_runner import run_gate

ROOT = Path(__file__).resolve().parents[1]


class _Rule:
    def __init__(self, method: str | None) -> None:
        self.method, self.threshold = method, None


def _merged(parts, kind, column, frame):
    return reduce(lambda a, b: a.merge(b), [sketch(p[column], kind, column, frame) for p in parts])


def _partition_columns(reference, current, kinds, pieces=(5, 3)):
    """Each column reduced as the Dask engine does: sketches per partition, merged, binned."""
    ref_parts = [reference.iloc[i] for i in np.array_split(np.arange(len(reference)), pieces[0])]
    cur_parts = [current.iloc[i] for i in np.array_split(np.arange(len(current)), pieces[1])]
    out = {}
    for column, kind in kinds.items():
        ref = _merged(ref_parts, kind, column, "reference")
        cur = _merged(cur_parts, kind, column, "current")
        plan = bin_plan(ref, cur, column) if kind == "numeric" else None
        binned = None
        if plan is not None:
            counts = [
                reduce(
                    lambda a, b: a.merge(b), [bin_counts(p[column], plan, column, f) for p in ps]
                )
                for ps, f in ((ref_parts, "reference"), (cur_parts, "current"))
            ]
            binned = (plan, *counts)
        out[column] = merged_column(kind, ref, cur, column, binned)
    return out


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, 60_000),
            "age": rng.integers(18, 90, 60_000),
            "job": rng.choice(list("abcde"), 60_000),
        }
    )
    current = pd.DataFrame(
        {
            "income": rng.lognormal(10.03, 1, 40_000),
            "age": rng.integers(18, 92, 40_000),
            "job": rng.choice(list("abcdf"), 40_000),
        }
    )
    return reference, current, {"income": "numeric", "age": "numeric", "job": "categorical"}


@pytest.mark.parametrize("method", [None, "ks", "wasserstein", "jensenshannon", "psi"])
def test_merged_partitions_give_the_in_memory_statistics(frames, method):
    reference, current, kinds = frames
    rules = {"income": _Rule(method)}
    merged = columns_drift(_partition_columns(reference, current, kinds), kinds, rules)
    memory = frame_drift(reference, current, kinds, rules)
    for ours, exact in zip(merged, memory, strict=True):
        assert ours.method == exact.method
        if ours.bound is None:  # counted exactly: the same statistic
            assert ours.statistic == pytest.approx(exact.statistic, rel=1e-9, abs=1e-12)
            assert ours.drifted == exact.drifted
        else:  # binned: the exact value lies within the stated bound
            low, high = ours.bound
            assert low - 1e-12 <= exact.statistic <= high + 1e-12
    binned = {d.column for d in merged if d.bound is not None}
    assert binned == ({"income"} if method in (None, "ks", "wasserstein") else set())


def test_a_binned_verdict_is_taken_on_the_end_toward_drift(frames):
    reference, current, _kinds = frames
    columns = _partition_columns(reference, current, {"income": "numeric"})
    exact = frame_drift(reference, current, {"income": "numeric"})[0]
    _low, high = columns_drift(columns, {"income": "numeric"})[0].bound
    # a threshold between the exact value and the bound's high end: memory passes, the
    # approximation cannot tell, so it blocks
    threshold = (exact.statistic + high) / 2
    rule = type("R", (), {"method": "wasserstein", "threshold": threshold})()
    ours = columns_drift(columns, {"income": "numeric"}, {"income": rule})[0]
    assert ours.drifted and not exact.drifted


def test_per_value_tests_refuse_a_binned_column(frames):
    reference, current, _ = frames
    columns = _partition_columns(reference, current, {"income": "numeric"})
    with pytest.raises(DataError, match="too many"):
        columns_drift(columns, {"income": "numeric"}, {"income": _Rule("chi2_two_sample")})


def test_moments_merge_to_the_moments_of_all_rows():
    rng = np.random.default_rng(0)
    rows = rng.normal(1e6, 3, size=(10_001, 3))
    merged = reduce(Moments.merge, [Moments.of(p) for p in np.array_split(rows, 7)])
    whole = Moments.of(rows)
    assert merged.rows == whole.rows
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.comoment, whole.comoment, rtol=1e-8)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_quality_sketches_give_the_large_sample_intervals(task):
    rng = np.random.default_rng(5)
    n = 120_000
    if task == "binary":
        y = rng.integers(0, 2, n)
        score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.5 * (2 * y - 1))))
    elif task == "multiclass":
        y = rng.integers(0, 3, n)
        score = rng.dirichlet([1, 1, 1], n)
        score[np.arange(n), y] += 0.6
        score /= score.sum(axis=1, keepdims=True)
    else:
        y = rng.normal(50, 10, n)
        score = y + rng.normal(0, 3, n)
    names = [m for m in task_metrics(task) if not (task == "multiclass" and m == "roc_auc")]
    parts = np.array_split(np.arange(n), 6)
    merged = reduce(
        QualitySketch.merge,
        [QualitySketch.of(task, y[i], score[i], 0.5, centre=50.0) for i in parts],
    )
    ours = sketch_metrics(merged, names)
    memory = large_sample_metrics(y, score, names, task=task)
    for name in names:
        # the interval's width, plus one error bin (0.2%) for the binned error quantiles
        width = memory[name].high - memory[name].low + 0.03 * abs(memory[name].value)
        assert ours[name].value == pytest.approx(memory[name].value, rel=2e-3, abs=1e-9), name
        assert ours[name].low == pytest.approx(memory[name].low, abs=0.1 * width + 1e-9), name
        assert ours[name].high == pytest.approx(memory[name].high, abs=0.1 * width + 1e-9), name


def test_quality_sketches_refuse_what_they_cannot_bound():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(5000, int), np.ones(200, int)]  # a rare class
    sketch_ = QualitySketch.of("binary", y, rng.random(len(y)))
    with pytest.raises(DataError, match="1,000 rows"):
        sketch_metrics(sketch_, ["accuracy"])
    y3 = rng.integers(0, 3, 9000)
    multi = QualitySketch.of("multiclass", y3, rng.dirichlet([1, 1, 1], 9000))
    with pytest.raises(DataError, match="roc_auc"):
        sketch_metrics(multi, ["roc_auc"])


def test_schema_violations_merge_over_partitions():
    reference = pd.DataFrame({"age": [20, 30, 40, 50], "job": ["a", "b", "a", "b"]})
    schema = infer_schema(reference)
    first = pd.DataFrame({"age": [20, -5], "job": ["a", "z"]})
    second = pd.DataFrame({"age": [-7, 30], "job": ["b", "a"]})
    groups = merge_violation_groups(
        [("p0", violation_groups(first, schema)), ("p1", violation_groups(second, schema))]
    )
    by_column = {g["column"]: g for g in groups}
    assert by_column["age"]["count"] == 2
    assert by_column["job"]["count"] == 1
    assert by_column["age"]["partition"] == "p0"
    assert violation_groups(reference, schema) == []


def test_column_data_of_frames_matches_frame_drift(frames):
    reference, current, kinds = frames
    data = {c: column_data(reference[c], current[c], k, c) for c, k in kinds.items()}
    assert columns_drift(data, kinds) == frame_drift(reference, current, kinds)


# --------------------------------------------------------------------------- a real cluster


def _write_partitions(frame: pd.DataFrame, folder: Path, pieces: int) -> None:
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), pieces)):
        frame.iloc[rows].to_parquet(folder / f"part-{i:03d}.parquet", index=False)


def _gate(tmp: Path, engine: str, reference: Path, current: Path, *extra: str) -> dict[str, str]:
    report = tmp / f"report-{engine}-{current.name}-{len(extra)}"
    suites = [ROOT / "suites" / s for s in ("drift", "schema", "model_quality/test_quality.py")]
    run = run_gate(
        [
            *suites, "--model", "demo", "--reference", reference, "--current", current,
            "--engine", engine, "--stack", "off", "--report-dir", report, *extra,
        ],
        cwd=tmp,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    gates = json.loads((report / "gate.json").read_text())["gates"]
    return {g["name"]: g["outcome"] for g in gates}


def _values(report: Path) -> dict[str, tuple]:
    gates = json.loads((report / "gate.json").read_text())["gates"]
    return {g["name"]: (g["value"], g["interval"]) for g in gates}


@pytest.mark.slow
def test_dask_and_in_memory_engines_reach_the_same_verdicts(tmp_path):
    reference = generate(150_000, seed=11)
    clean = generate(150_000, seed=12)
    shifted = apply_scenario(generate(150_000, seed=13), "covariate_shift", seed=1)
    _write_partitions(reference, tmp_path / "reference", 3)
    _write_partitions(clean, tmp_path / "clean", 4)
    _write_partitions(shifted, tmp_path / "shifted", 4)
    for current in ("clean", "shifted"):
        dask = _gate(tmp_path, "dask", tmp_path / "reference", tmp_path / current)
        local = _gate(tmp_path, "local", tmp_path / "reference", tmp_path / current)
        decided = {n: o for n, o in dask.items() if o != "SKIP"}
        assert any(n.startswith("quality.") for n in decided)
        assert "schema.inputs" in decided and "drift.dataset" in decided
        assert decided == {n: local[n] for n in decided}, current
        blocked = {n for n, o in decided.items() if o == "FAIL"}
        assert bool(blocked) == (current == "shifted"), blocked


@pytest.mark.slow
def test_a_worker_that_dies_mid_run_is_an_error():
    with DaskEngine(say=quiet) as engine, pytest.raises(InfrastructureError, match="died"):
        engine.map("summarising", os._exit, [(1,)])


@pytest.mark.slow
def test_the_gate_runs_on_a_cluster_the_user_started(tmp_path):
    """`dask scheduler` and `dask worker` as a user starts them; mlcheck only connects."""
    dask_cli = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    scheduler = subprocess.Popen(
        [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [dask_cli, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host",
         "127.0.0.1", "--memory-limit", "2GiB", *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # fewer rows than [quality] large_sample_rows: the labels and scores are gathered and
        # the quality gates bootstrap them as in memory
        _write_partitions(generate(60_000, seed=21), tmp_path / "reference", 2)
        _write_partitions(generate(60_000, seed=22), tmp_path / "current", 3)
        ours = _gate(
            tmp_path, "dask", tmp_path / "reference", tmp_path / "current",
            f"--dask-scheduler={address}",
        )  # fmt: skip
        local = _gate(tmp_path, "local", tmp_path / "reference", tmp_path / "current")
        decided = {n: o for n, o in ours.items() if o != "SKIP"}
        assert "quality.roc_auc" in decided and "drift.dataset" in decided
        assert decided == {n: local[n] for n in decided}
        values = (
            _values(tmp_path / "report-dask-current-1"),
            _values(tmp_path / "report-local-current-0"),
        )
        for name in ("quality.roc_auc", "quality.accuracy", "quality.log_loss"):
            # the same bootstrap; the model's float32 outputs differ in their last digits
            # between a partition's batch and the whole frame's, which reorders a few ties
            ours, memory = values[0][name], values[1][name]
            assert ours[0] == pytest.approx(memory[0], rel=1e-6), name
            assert ours[1] == pytest.approx(memory[1], abs=1e-3), name
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def _run(tmp_path, **options) -> Run:
    return Run(RunOptions(model="demo", **options))


def test_auto_picks_dask_only_for_parquet_past_its_share_of_memory(tmp_path, monkeypatch):
    _write_partitions(generate(2_000, seed=1), tmp_path / "reference", 2)
    _write_partitions(generate(2_000, seed=2), tmp_path / "current", 2)
    write_table(generate(2_000, seed=3), tmp_path / "current.csv")
    parquet = {"reference": str(tmp_path / "reference"), "current": str(tmp_path / "current")}
    assert _run(tmp_path, **parquet).spec.engine == "local"  # far below a quarter of memory
    monkeypatch.setattr("mlcheck.data.partitions.AUTO_MEMORY_SHARE", 0.0)
    assert _run(tmp_path, **parquet).spec.engine == "dask"
    as_csv = {**parquet, "current": str(tmp_path / "current.csv")}
    assert _run(tmp_path, **as_csv).spec.engine == "local"  # CSV is read in memory
    glob = {**parquet, "current": str(tmp_path / "current" / "part-*.parquet")}
    assert _run(tmp_path, **glob).spec.engine == "dask"
    # served traffic (capture-*.parquet) is a capture folder, not partitions: read in memory
    capture = tmp_path / "capture"
    capture.mkdir()
    generate(500, seed=4).to_parquet(capture / "capture-0001.parquet", index=False)
    served = _run(tmp_path, reference=parquet["reference"], current=str(capture))
    assert served.spec.engine == "local" and served.spec.current_is_capture


def test_engine_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="--engine='spark'"):
        _ = _run(tmp_path, engine="spark").spec.engine
    with pytest.raises(ConfigError, match="--dask-scheduler"):
        _ = _run(tmp_path, engine="local", dask_scheduler="tcp://127.0.0.1:8786").spec.engine


def test_with_dask_the_rows_are_never_loaded_whole(tmp_path):
    _write_partitions(generate(2_000, seed=1), tmp_path / "reference", 2)
    _write_partitions(generate(2_000, seed=2), tmp_path / "current", 2)
    run = _run(
        tmp_path,
        engine="dask",
        reference=str(tmp_path / "reference"),
        current=str(tmp_path / "current"),
    )
    with pytest.raises(ConfigError, match="--engine local"):
        _ = run.data.current
    assert len(run.data.records(5)) == 5  # the serving gates send rows of the first partition
    assert not run.spec.current_is_capture


def test_a_folder_or_glob_of_partitions_reads_as_one_frame_in_memory(tmp_path):
    frame = generate(3_000, seed=4)
    _write_partitions(frame, tmp_path / "parts", 3)
    for path in (tmp_path / "parts", tmp_path / "parts" / "*.parquet"):
        read = read_table(str(path), "--current")
        pd.testing.assert_frame_equal(read, frame, check_categorical=False)
    with pytest.raises(DataError, match="no Parquet files"):
        partition_files(str(tmp_path / "parts" / "*.csv"), "--current")


@pytest.mark.slow
def test_a_scheduler_that_does_not_answer_is_an_error_naming_it():
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(InfrastructureError, match=f"--dask-scheduler='{address}'"):
        DaskEngine(address, say=quiet).__enter__()


@pytest.mark.slow
def test_a_scheduler_that_refuses_is_waited_on_once_per_run(tmp_path):
    """The first failure of the cluster is the run's: the next gate that needs it gets the
    same error at once instead of waiting for the scheduler again."""
    import time

    from mlcheck.engine.dask import CONNECT_TIMEOUT_S
    from mlcheck.run.options import RunOptions
    from mlcheck.run.parts import Run

    frame = generate(2_000, seed=6)
    _write_partitions(frame, tmp_path / "ref", 2)
    _write_partitions(frame, tmp_path / "cur", 2)
    address = f"tcp://127.0.0.1:{free_port()}"
    run = Run(
        RunOptions(
            reference=str(tmp_path / "ref"), current=str(tmp_path / "cur"),
            engine="dask", dask_scheduler=address,
        )
    )  # fmt: skip
    waits, messages = [], []
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(InfrastructureError, match=f"--dask-scheduler='{address}'") as caught:
            run.scores.summary  # noqa: B018 - the load is the point
        waits.append(time.monotonic() - started)
        messages.append(str(caught.value))
    assert waits[0] < CONNECT_TIMEOUT_S + 20 and waits[1] < 0.5, waits
    assert messages[0] == messages[1]


def test_the_sample_sees_every_partition(tmp_path):
    frame = generate(3_000, seed=5)
    frame["part"] = np.repeat(["a", "b", "c"], 1_000)
    _write_partitions(frame, tmp_path / "parts", 3)
    files = partition_files(str(tmp_path / "parts"), "--reference")
    sample = sample_partitions(files, 300)
    assert len(sample) == 300 and set(sample["part"]) == {"a", "b", "c"}
    assert parquet_rows(files) == 3_000


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_merged_quality_gates_describe_the_labels_as_in_memory(task):
    rng = np.random.default_rng(2)
    n = 120_000
    if task == "multiclass":
        y = rng.integers(0, 3, n)
        score = rng.dirichlet([1, 1, 1], n)
        policy = QualityPolicy(thresholds=(MetricThreshold("accuracy", Comparison.GE, 0.1),))
    elif task == "binary":
        y = rng.integers(0, 2, n)
        score = rng.random(n)
        policy = QualityPolicy(thresholds=(MetricThreshold("accuracy", Comparison.GE, 0.1),))
    else:
        y = rng.normal(5, 2, n)
        score = y + rng.normal(0, 1, n)
        policy = QualityPolicy(thresholds=(MetricThreshold("mae", Comparison.LE, 9.0),))
    parts = np.array_split(np.arange(n), 4)
    merged = reduce(QualitySketch.merge, [QualitySketch.of(task, y[i], score[i]) for i in parts])
    ours = sketch_metric_gates(merged, policy, ["a", "b", "c"] if task == "multiclass" else None)
    memory = metric_gates(y, score, policy, task, ["a", "b", "c"] if task == "multiclass" else None)
    skip = {"interval", "resamples", "bound", "decided_on"}
    for mine, theirs in zip(ours, memory, strict=True):
        about = {k: v for k, v in mine.details.items() if k not in skip}
        expected = {k: v for k, v in theirs.details.items() if k not in skip}
        assert about.keys() == expected.keys()
        for key, value in expected.items():
            if key == "classes":
                for label, scores in value.items():
                    assert about[key][label] == pytest.approx(scores, rel=1e-9), label
            elif isinstance(value, float):
                assert about[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert about[key] == value, key
