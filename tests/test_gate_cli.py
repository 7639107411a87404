"""`mlcheck gate` end to end: real suites, a real serving core, exit codes 0/1/2."""

import json
import subprocess
import sys

import pytest

from mlcheck.data.bank import generate
from mlcheck.data.io import write_table
from mlcheck.training import train_xgboost
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def gate(*args, report_dir):
    command = [
        sys.executable,
        "-m",
        "mlcheck",
        "gate",
        *args,
        "--report-dir",
        str(report_dir),
        "--",
        "-p",
        "no:locust",
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def verdict(report_dir):
    return json.loads((report_dir / "gate.json").read_text())


def test_demo_gate_passes_with_no_configuration(tmp_path):
    run = gate(report_dir=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = verdict(tmp_path)
    assert data["verdict"] == "PASS"
    names = {g["name"] for g in data["gates"]}
    assert {"quality.accuracy", "quality.roc_auc", "quality.slice.job", "serving.parity"} <= names
    assert (tmp_path / "report.html").exists() and (tmp_path / "junit.xml").exists()


def test_shuffled_label_model_is_blocked(tmp_path):
    train = generate(5000, seed=21)
    train["y"] = train["y"].sample(frac=1.0, random_state=0).to_numpy()
    model = train_xgboost(train, tmp_path / "shuffled", rounds=30)
    current = write_table(generate(5000, seed=22), tmp_path / "current.parquet")
    run = gate("--model", str(model), "--current", str(current), report_dir=tmp_path / "r")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "quality.roc_auc: roc_auc=0." in run.stdout and ">= 0.8500 FAIL" in run.stdout
    failed = {g["name"]: g for g in verdict(tmp_path / "r")["gates"] if g["outcome"] == "FAIL"}
    assert {"quality.accuracy", "quality.roc_auc"} <= set(failed)
    assert failed["quality.roc_auc"]["interval"][1] < 0.85


def test_missing_data_file_cannot_decide(tmp_path):
    missing = tmp_path / "nope.csv"
    run = gate("--current", str(missing), report_dir=tmp_path)
    assert run.returncode == 2, run.stdout[-3000:]
    assert f"--current='{missing}' does not exist" in run.stdout
    data = verdict(tmp_path)
    assert data["verdict"] == "ERROR" and all(g["outcome"] == "ERROR" for g in data["gates"])


def test_sklearn_model_on_other_data_runs_by_configuration(tmp_path, sklearn_model_dir, other_data):
    reference, current = other_data
    policy = tmp_path / "gates.toml"
    policy.write_text(
        '[data]\ntarget = "label"\n[quality.min]\naccuracy = 0.75\nroc_auc = 0.80\n'
        "[quality.max]\nlog_loss = 0.6\n"
        '[quality.slices]\ncolumns = ["colour"]\nmin_size = 100\nmax_gap = 0.1\n'
    )
    args = [
        "--model",
        str(sklearn_model_dir),
        "--policy",
        str(policy),
        "--reference",
        str(write_table(reference, tmp_path / "ref.csv")),
        "--current",
        str(write_table(current, tmp_path / "cur.csv")),
    ]
    run = gate(*args, report_dir=tmp_path / "r")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    names = {g["name"]: g["outcome"] for g in verdict(tmp_path / "r")["gates"]}
    assert names["quality.slice.colour"] == "PASS" and names["serving.parity"] == "PASS"


def test_bad_policy_and_empty_suite_cannot_decide(tmp_path):
    policy = tmp_path / "gates.toml"
    policy.write_text("[quality.min]\naccuracy = 2\n")
    run = gate("--policy", str(policy), report_dir=tmp_path / "a")
    assert run.returncode == 2
    assert "quality.min.accuracy=2 is out of range" in run.stdout
    empty = tmp_path / "empty_suite"
    empty.mkdir()
    run = gate(str(empty), report_dir=tmp_path / "b")
    assert run.returncode == 2 and "no tests were collected" in run.stderr


def test_usage_errors_exit_2():
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "gate", "suites/nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "SUITE='suites/nope' does not exist" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "data", "--rows", "0", "--out", "x.csv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "expected a number >= 1" in run.stderr


def test_help_lists_commands_and_exit_codes():
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "--help"], capture_output=True, text=True, check=True
    )
    for word in (
        "data",
        "train",
        "serve",
        "gate",
        "Exit codes: 0 pass, 1 a gate failed (blocked), 2 could not decide.",
    ):
        assert word in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "gate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in (
        "--model URI",
        "--reference PATH",
        "--current PATH",
        "--target COLUMN",
        "--policy PATH",
        "--report-dir DIR",
    ):
        assert option in run.stdout
