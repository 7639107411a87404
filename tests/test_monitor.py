"""`mlcheck monitor`: windows of captured traffic gated for drift and accuracy, published as
the gauges the alert rules read; with a real Prometheus, clean traffic fires nothing and
covariate-shifted traffic fires MlcheckDataDrift."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcheck.commands.monitor_windows import Monitor
from mlcheck.data.bank import generate
from mlcheck.data.capture import LABELS_FILE
from mlcheck.data.io import write_table
from mlcheck.data.scenarios import apply_scenario
from mlcheck.policy import load_policy
from mlcheck.results import Outcome
from mlcheck.serving.process import free_port
from mlcheck.stack import choose_backend, start_stack
from mlcheck.stack.exporter import GateMetrics

POLICY = "[drift]\ndataset_share = 0.1\n[quality.min]\naccuracy = 0.9\n"


def _capture(folder: Path, frame: pd.DataFrame, name: str, prediction=None) -> pd.DataFrame:
    """`frame`'s features as one capture file, as `mlcheck serve --capture` writes them."""
    rows = frame.drop(columns=["y"]).reset_index(drop=True)
    rows["request_id"] = [f"{name}-{i}" for i in range(len(rows))]
    rows["row"] = 0
    rows["model_version"] = "1"
    rows["captured_at"] = pd.Timestamp("2026-11-29T12:00:00Z")
    rows["prediction"] = 0 if prediction is None else prediction
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"capture-{name}.parquet.tmp"
    rows.to_parquet(part, index=False)
    part.rename(folder / f"capture-{name}.parquet")  # complete files appear whole
    return rows


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "gates.toml"
    path.write_text(POLICY)
    return load_policy(path)


def test_each_window_is_gated_once_and_published(tmp_path, policy):
    metrics = GateMetrics(model="bank")
    monitor = Monitor(tmp_path / "capture", generate(20_000, seed=1), policy, metrics, 1000)
    _capture(tmp_path / "capture", generate(500, seed=2), "a")
    assert monitor.window() is None  # 500 rows: waits for more
    _capture(tmp_path / "capture", generate(4_000, seed=3), "b")
    clean = monitor.window()
    assert clean is not None and clean.rows == 4_500 and len(clean.files) == 2
    gates = {g.name: g for g in clean.gates}
    assert gates["drift.dataset"].outcome is Outcome.PASS
    assert "quality.accuracy" not in gates  # no labels yet
    assert monitor.window() is None  # nothing new
    shifted = apply_scenario(generate(4_000, seed=4), "covariate_shift", seed=1)
    _capture(tmp_path / "capture", shifted, "c")
    drifted = {g.name: g for g in monitor.window().gates}
    assert drifted["drift.dataset"].outcome is Outcome.FAIL
    assert metrics.drift_detected.labels("bank")._value.get() == 1


def test_labelled_windows_publish_the_accuracy_of_the_captured_predictions(tmp_path, policy):
    folder = tmp_path / "capture"
    frame = generate(3_000, seed=5)
    truth = frame["y"].to_numpy()
    wrong = np.random.default_rng(0).random(len(truth)) < 0.2  # 80% right
    captured = _capture(folder, frame, "a", prediction=np.where(wrong, 1 - truth, truth))
    labels = captured[["request_id", "row"]].assign(y=truth)
    labels.to_parquet(folder / LABELS_FILE, index=False)
    metrics = GateMetrics(model="bank")
    window = Monitor(folder, generate(20_000, seed=1), policy, metrics).window()
    accuracy = {g.name: g for g in window.gates}["quality.accuracy"]
    assert accuracy.value == pytest.approx(1 - wrong.mean())
    assert accuracy.outcome is Outcome.FAIL  # under the policy's 0.9
    assert metrics.accuracy.labels("bank")._value.get() == pytest.approx(accuracy.value)


def test_drift_is_watched_after_labels_arrive_and_labels_are_scored_when_they_do(tmp_path, policy):
    """Labels for the first traffic must not stop the monitor from judging new, unlabelled
    traffic for drift; and labels that arrive after their window are scored then, once."""
    folder = tmp_path / "capture"
    frame = generate(2_000, seed=5)
    monitor = Monitor(folder, generate(20_000, seed=1), policy, GateMetrics(), 1000)
    first = _capture(folder, frame, "a", prediction=frame["y"].to_numpy())
    assert "quality.accuracy" not in {g.name for g in monitor.window().gates}  # no labels yet
    first[["request_id", "row"]].assign(y=frame["y"].to_numpy()).to_parquet(
        folder / LABELS_FILE, index=False
    )
    shifted = apply_scenario(generate(1_390, seed=6), "covariate_shift", seed=1)
    _capture(folder, shifted, "b")
    window = monitor.window()
    gates = {g.name: g for g in window.gates}
    assert window.rows == 1_390 and gates["drift.dataset"].outcome is Outcome.FAIL
    assert window.labelled == 2_000 and gates["quality.accuracy"].value == 1.0  # labels, late
    assert monitor.window() is None  # nothing new: no row scored twice


def test_without_a_stated_threshold_the_reference_baseline_decides(tmp_path):
    """No [quality.min] accuracy: the captured predictions must beat predicting the reference's
    majority class (never a threshold of 0 that cannot fire); no [quality.max] rmse: a
    regressor's RMSE must stay under the reference label's standard deviation (never +Inf)."""
    folder = tmp_path / "capture"
    frame = generate(3_000, seed=5)
    truth = frame["y"].to_numpy()
    wrong = np.random.default_rng(0).random(len(truth)) < 0.2  # 80% right
    captured = _capture(folder, frame, "a", prediction=np.where(wrong, 1 - truth, truth))
    captured[["request_id", "row"]].assign(y=truth).to_parquet(folder / LABELS_FILE, index=False)
    reference = generate(20_000, seed=1)
    majority = float(reference["y"].value_counts(normalize=True).iloc[0])
    bare = tmp_path / "bare.toml"
    bare.write_text("[drift]\ndataset_share = 0.5\n")  # no [quality] thresholds
    none = load_policy(bare)
    accuracy = {g.name: g for g in Monitor(folder, reference, none, GateMetrics()).window().gates}[
        "quality.accuracy"
    ]
    assert accuracy.threshold == pytest.approx(majority) and accuracy.outcome is Outcome.FAIL
    assert "majority share" in accuracy.reason

    values = np.random.default_rng(1).normal(100.0, 15.0, 3_000)
    reference = generate(3_000, seed=6).assign(
        y=np.random.default_rng(2).normal(100.0, 15.0, 3_000)
    )
    for name, noise in (("good", 5.0), ("bad", 40.0)):
        folder = tmp_path / name
        guess = values + np.random.default_rng(3).normal(0.0, noise, len(values))
        rows = _capture(folder, frame.assign(y=values), name, prediction=guess)
        rows[["request_id", "row"]].assign(y=values).to_parquet(folder / LABELS_FILE, index=False)
        gates = {g.name: g for g in Monitor(folder, reference, none, GateMetrics()).window().gates}
        rmse = gates["quality.rmse"]
        assert rmse.threshold == pytest.approx(reference["y"].std(ddof=0))
        assert rmse.outcome is (Outcome.PASS if name == "good" else Outcome.FAIL), rmse


def test_a_monitor_that_never_waits_is_refused(tmp_path):
    folder = tmp_path / "capture"
    folder.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "monitor", "--capture", str(folder),
         "--reference", "x.parquet", "--every", "0s"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "--every='0s' must be longer than 0" in run.stderr


def test_monitor_options_are_checked(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "monitor", "--capture", str(tmp_path / "none"),
         "--reference", "x.parquet"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "--capture=" in run.stderr and "not a folder" in run.stderr


def _gauge(url: str, name: str) -> float | None:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + "{")]
    return float(values[0]) if values else None


@pytest.mark.slow
def test_a_real_prometheus_fires_the_drift_alert_on_shifted_traffic_only(tmp_path, policy):
    folder = tmp_path / "capture"
    folder.mkdir()
    reference = tmp_path / "reference.parquet"
    write_table(generate(20_000, seed=1), reference)
    (tmp_path / "gates.toml").write_text(POLICY + "[stack]\nscrape_interval_s = 1.0\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monitor = subprocess.Popen(
        [sys.executable, "-m", "mlcheck", "monitor", "--capture", str(folder), "--reference",
         str(reference), "--every", "1s", "--port", str(port), "--model-name", "bank",
         "--policy", str(tmp_path / "gates.toml")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    stack_policy = load_policy(tmp_path / "gates.toml").stack
    chosen, reason = choose_backend("processes", stack_policy, services=("prometheus",))
    try:
        deadline = time.monotonic() + 60
        while not _answers(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        with start_stack(
            chosen, reason, url, tmp_path / "work", stack_policy, gates_url=url,
            services=("prometheus",),
        ) as stack:  # fmt: skip
            client = stack.prometheus_client()
            _capture(folder, generate(5_000, seed=2), "clean")
            deadline = time.monotonic() + 30
            while _gauge(url, "ml_data_drift_detected") is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _gauge(url, "ml_data_drift_detected") == 0
            # the clean window is scraped and evaluated for longer than the rule's `for:`
            time.sleep(4 * stack_policy.scrape_interval_s + stack.alert_for_s)
            assert client.value('ml_data_drift_detected{model="bank"}', default=-1) == 0
            assert not [
                a for a in client.alerts() if a["labels"]["alertname"] == "MlcheckDataDrift"
            ]
            shifted = apply_scenario(generate(5_000, seed=3), "covariate_shift", seed=1)
            _capture(folder, shifted, "shifted")
            alert = client.wait_for_alert("MlcheckDataDrift", 60)
            assert alert["labels"]["model"] == "bank"
    finally:
        monitor.terminate()
        out, _ = monitor.communicate(timeout=30)
    assert "window 1: 5,000 rows" in out and "window 2: 5,000 rows" in out, out


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/metrics", timeout=5).read()
    except OSError:
        return False
    return True
