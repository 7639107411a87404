"""`mlcheck init` for every task: a regressor and a three-class model measured and gated,
the workflow it writes linted, existing files kept, `--force` and `--policy`."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlcheck.cli import main
from mlcheck.commands import init_seed as init
from mlcheck.commands.init_seed import TASK_METRICS, Timings, init_repository, requirement
from mlcheck.data.io import write_table
from mlcheck.gates.schema import schema_gate
from mlcheck.policy import LatencyPolicy, LoadPolicy, load_policy
from mlcheck.schema import load_schema
from tests.conftest import ROOT, save_fitted
from tests.gate_runner import run_gate

ACTIONLINT = Path(sys.executable).parent / "actionlint"
MLCHECK = (sys.executable, "-m", "mlcheck")
WRITTEN = ("checks/gates.toml", "checks/schema.yaml", ".github/workflows/mlcheck.yml")


@pytest.fixture
def quick_timings(monkeypatch):
    """Init times the model for a few seconds; the fast tests need only a few calls."""
    monkeypatch.setattr(init, "_SINGLE_BUDGET", (0.05, 10))
    monkeypatch.setattr(init, "_BATCH_BUDGET", (0.05, 5))
    monkeypatch.setattr(init, "_SERVED_BUDGET", (0.05, 10))


def task_data(seed: int, rows: int, task: str) -> pd.DataFrame:
    """Two numbers (x2 with 8% missing) and a string region (3% missing); target `y`: a
    number (regression) or one of three class names (multiclass)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    x2[rng.random(rows) < 0.08] = np.nan
    region = rng.choice(["north", "south", "east"], size=rows).astype(object)
    region[rng.random(rows) < 0.03] = None
    effect = pd.Series(region).map({"north": 1.0, "south": -1.0}).fillna(0.0).to_numpy()
    z = 2 * x1 - np.nan_to_num(x2) + effect
    if task == "regression":
        y: Any = 100 + 20 * z + rng.normal(scale=10, size=rows)
    else:
        noisy = z + rng.normal(scale=0.7, size=rows)
        y = np.where(noisy < -1, "low", np.where(noisy < 1, "mid", "high"))
    return pd.DataFrame({"x1": x1, "x2": x2, "region": region, "y": y})


def fitted_pipeline(task: str, frame: pd.DataFrame) -> Any:
    """A scikit-learn pipeline: impute, one-hot the region, then Ridge or LogisticRegression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    category = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    encode = ColumnTransformer(
        [("region", category, ["region"]), ("numbers", SimpleImputer(), ["x1", "x2"])]
    )
    model = Ridge() if task == "regression" else LogisticRegression(max_iter=500)
    # None (how MLflow's pyfunc hands a JSON null over) as NaN, as read from a file; a lambda
    # is pickled by value, so the model loads without this test module
    as_nan = FunctionTransformer(lambda x: x.where(x.notna(), np.nan))
    pipeline = Pipeline([("nan", as_nan), ("encode", encode), ("m", model)])
    return pipeline.fit(frame.drop(columns=["y"]), frame["y"])


def seeded_repo(root: Path, task: str, mlcheck: Sequence[str] = MLCHECK) -> Path:
    """A repository holding a fitted model and its reference data, seeded by `mlcheck init`
    run as a user runs it (a subprocess in the repository; `mlcheck`: the command)."""
    repo = root / task
    repo.mkdir()
    train = task_data(0, 1500, task)
    save_fitted(fitted_pipeline(task, train), train.drop(columns=["y"]), repo / "model")
    write_table(task_data(1, 600, task), repo / "reference.csv")
    command = [*mlcheck, "init", "--model", "model", "--reference", "reference.csv"]
    command += ["--target", "y"]
    run = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in WRITTEN:
        assert f"wrote {Path(name)}" in run.stdout, run.stdout
    assert "timed here: predict one row p95" in run.stdout
    (repo / "init.out").write_text(run.stdout)
    return repo


def gate(repo: Path) -> subprocess.CompletedProcess[str]:
    """`mlcheck gate` on the same data, without the stack and the locust load (latency runs)."""
    args = ["--model", "model", "--reference", "reference.csv", "--current", "reference.csv"]
    args += ["--policy", "checks/gates.toml", "--stack", "off", "--report-dir", "reports"]
    return run_gate([*args, "--", "-k", "not test_load", "-p", "no:locust"], cwd=repo)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_init_measures_the_task_and_the_first_gate_passes(tmp_path, task):
    repo = seeded_repo(tmp_path, task)
    policy = load_policy(repo / "checks" / "gates.toml")
    assert policy.task == task and policy.target == "y"
    higher, lower = TASK_METRICS[task]
    assert [t.metric for t in policy.quality.thresholds] == [*higher, *lower]
    assert policy.quality.slices is not None and policy.quality.slices.columns == ("region",)
    assert policy.quality.slices.metric == init.SLICE_METRIC[task]
    assert policy.data_quality.max_missing_rate > 0.08  # x2 is 8% missing in the reference
    assert policy.schema.file == repo / "checks" / "schema.yaml"

    # nullable where the reference has missing values; the label is not
    schema = load_schema(repo / "checks" / "schema.yaml")
    assert schema.columns["x2"].nullable and schema.columns["region"].nullable
    assert not schema.columns["y"].nullable
    assert schema_gate(pd.read_csv(repo / "reference.csv"), schema).passed

    run = gate(repo)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    gates = {
        g["name"]: g for g in json.loads((repo / "reports" / "gate.json").read_text())["gates"]
    }
    for name in (*higher, *lower):
        assert gates[f"quality.{name}"]["outcome"] == "PASS"
    assert gates["quality.slice.region"]["outcome"] == "PASS"
    for name in ("latency.predict.single", "latency.predict.batch", "latency.http.p95"):
        assert gates[name]["outcome"] == "PASS", gates[name]
    if task == "regression":
        assert gates["quality.baseline"]["outcome"] == "PASS"
        check_policy_says_what_was_measured(repo)

    workflow = repo / ".github" / "workflows" / "mlcheck.yml"
    lint = subprocess.run([str(ACTIONLINT), str(workflow)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    install = yaml.safe_load(workflow.read_text())["jobs"]["gate"]["steps"][2]["run"]
    assert "-r model/requirements.txt" in install  # the model's own, written by MLflow


def said(policy_text: str) -> str:
    """The policy's comments as one line of text (they are wrapped)."""
    lines = policy_text.splitlines()
    return " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))


def check_policy_says_what_was_measured(repo: Path) -> None:
    text = (repo / "checks" / "gates.toml").read_text()
    comments = said(text)
    assert "# measured on reference.csv: " in text
    assert "their margin is 0.02 x the measured value" in comments  # rmse, mae: target units
    assert "Latency and load thresholds, measured by `mlcheck init` on this machine" in comments
    assert "in-process thresholds are 10x the measured p95" in comments
    assert "Through the serving core in process" in comments
    data = tomllib.loads(text)
    assert set(data["latency"]) >= {"single_p95_ms", "batch_p95_ms", "http_p95_ms"}
    assert set(data["load"]) >= {"p95_ms", "p99_ms", "min_rps"}
    assert data["latency"]["single_p95_ms"] >= LatencyPolicy().single_p95_ms


def test_slow_model_gets_thresholds_from_its_timings_and_fast_one_the_defaults():
    fast = init._latency_limits(Timings(1000, 0.4, 3.0, 1000, 1.0, 1.5, 2.0))
    latency, load = LatencyPolicy(), LoadPolicy()
    assert fast["latency"] == {
        "single_p95_ms": latency.single_p95_ms,
        "batch_p95_ms": latency.batch_p95_ms,
        "http_p95_ms": latency.http_p95_ms,
        "http_p99_ms": latency.http_p99_ms,
    }
    assert fast["load"] == {"p95_ms": load.p95_ms, "p99_ms": load.p99_ms, "min_rps": load.min_rps}

    # a slow pipeline: 40 ms a row, 900 ms a batch of 1,000, 45 ms served, 300 ms for 50 rows
    slow = init._latency_limits(Timings(1000, 40.0, 900.0, 1000, 45.0, 60.0, 300.0))
    assert slow["latency"]["single_p95_ms"] == 400 and slow["latency"]["batch_p95_ms"] == 9000
    assert slow["latency"]["http_p95_ms"] == 540  # 3 x 4 connections x 45 ms
    assert slow["latency"]["http_p99_ms"] == 1500  # 6 x 4 x 60 ms, rounded up
    service = 0.8 * 45 + 0.2 * 300  # the load's mix of single rows and batches
    assert slow["load"]["p95_ms"] >= 3 * 20 * service
    assert slow["load"]["min_rps"] == pytest.approx(1000 / service / 4, abs=0.1)
    assert slow["stack"]["p95_ms"] == slow["load"]["p95_ms"]


def test_cli_keeps_existing_files_and_says_so(
    tmp_path, quick_timings, sklearn_model_dir, other_data, capsys
):
    reference = write_table(other_data[0], tmp_path / "reference.csv")
    schema = tmp_path / "checks" / "schema.yaml"
    schema.parent.mkdir()
    schema.write_text("mine\n")
    args = ["init", "--model", str(sklearn_model_dir), "--reference", str(reference)]
    args += ["--target", "label", "--directory", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'checks' / 'gates.toml'}" in out
    assert f"wrote {tmp_path / '.github' / 'workflows' / 'mlcheck.yml'}" in out
    assert f"kept {schema} (it exists; --force overwrites it)" in out
    assert schema.read_text() == "mine\n"

    policy_before = (tmp_path / "checks" / "gates.toml").read_text()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "wrote" not in out and out.count("kept ") == 3
    assert (tmp_path / "checks" / "gates.toml").read_text() == policy_before

    assert main([*args, "--force"]) == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 3 and "kept" not in out
    assert "mine" not in schema.read_text()
    load_schema(schema)


def test_policy_elsewhere_names_the_schema_relative_to_itself(
    tmp_path, quick_timings, sklearn_model_dir, other_data, capsys
):
    repo = tmp_path / "repo"
    reference = write_table(other_data[0], repo / "data" / "reference.csv")
    policy = repo / "ci" / "mlcheck" / "gates.toml"
    args = ["init", "--model", str(sklearn_model_dir), "--reference", str(reference)]
    args += ["--target", "label", "--directory", str(repo), "--policy", str(policy)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"wrote {policy}" in out and f"--policy {policy}" in out
    assert not (repo / "checks" / "gates.toml").exists()
    assert tomllib.loads(policy.read_text())["schema"]["file"] == "../../checks/schema.yaml"
    loaded = load_policy(policy)
    assert loaded.schema.file is not None
    assert loaded.schema.file.resolve() == (repo / "checks" / "schema.yaml").resolve()
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "mlcheck.yml").read_text())
    assert workflow["jobs"]["gate"]["env"]["MLCHECK_POLICY"] == "ci/mlcheck/gates.toml"


def test_written_workflow_passes_actionlint(tmp_path, quick_timings, sklearn_model_dir, other_data):
    (tmp_path / "requirements.txt").write_text("scikit-learn\n")
    reference = write_table(other_data[0], tmp_path / "data" / "ref erence.csv")
    init_repository(str(sklearn_model_dir), reference, "label", tmp_path)
    workflow = tmp_path / ".github" / "workflows" / "mlcheck.yml"
    assert ACTIONLINT.exists(), f"{ACTIONLINT} is missing; install the dev extras"
    lint = subprocess.run([str(ACTIONLINT), str(workflow)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    text = workflow.read_text()
    assert "uses: mlcheck/" not in text  # a plain workflow: no placeholder action to edit
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "MLCHECK_MODEL:" in line)
    assert "outside the repository" in lines[at - 2]  # the model is in another folder
    job = yaml.safe_load(text)["jobs"]["gate"]
    assert job["env"]["MLCHECK_REFERENCE"] == "data/ref erence.csv"
    assert job["steps"][2]["run"].splitlines()[-1].endswith(" -r requirements.txt")


class FakeDistribution:
    def __init__(self, direct_url: dict[str, Any] | None) -> None:
        self.version = "1.2.3"
        self._direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return json.dumps(self._direct_url) if self._direct_url is not None else None


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (None, "mlcheck[load,stack,evidently]==1.2.3"),
        (
            {
                "url": "https://github.com/me/mlcheck.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123"},
            },
            "mlcheck[load,stack,evidently] @ git+https://github.com/me/mlcheck.git@abc123",
        ),
        (
            {"url": "https://example.org/mlcheck-1.2.3.tar.gz", "archive_info": {}},
            "mlcheck[load,stack,evidently] @ https://example.org/mlcheck-1.2.3.tar.gz",
        ),
        (
            {"url": "file:///elsewhere/mlcheck", "dir_info": {}},
            "mlcheck[load,stack,evidently]==1.2.3",
        ),
        (
            {"url": "file://{repo}/vendor/mlcheck", "dir_info": {}},
            "./vendor/mlcheck[load,stack,evidently]",
        ),
    ],
)
def test_workflow_installs_the_mlcheck_installed_here(tmp_path, monkeypatch, direct_url, expected):
    if direct_url is not None:
        direct_url = {**direct_url, "url": direct_url["url"].replace("{repo}", str(tmp_path))}
    monkeypatch.setattr(
        init.importlib.metadata, "distribution", lambda name: FakeDistribution(direct_url)
    )
    package, why = requirement(tmp_path)
    assert package == expected
    assert why


def test_a_git_checkout_elsewhere_is_installed_from_its_origin(tmp_path, monkeypatch):
    checkout = tmp_path / "mlcheck"
    checkout.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(checkout), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x")
    git("remote", "add", "origin", "git@github.com:me/mlcheck.git")
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    url = {"url": checkout.as_uri(), "dir_info": {"editable": True}}
    monkeypatch.setattr(init.importlib.metadata, "distribution", lambda _: FakeDistribution(url))
    package, why = requirement(tmp_path / "repo")
    assert (
        package
        == f"mlcheck[load,stack,evidently] @ git+ssh://git@github.com/me/mlcheck.git@{commit}"
    )
    assert "git checkout" in why


def test_this_checkout_is_pinned_by_version_outside_it(tmp_path):
    package, why = requirement(tmp_path)  # mlcheck is installed from ROOT (editable)
    assert package.startswith("mlcheck[load,stack,evidently]==")
    assert str(ROOT) in why or "version" in why
