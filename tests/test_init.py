"""`mlcheck init`: a policy, a schema and a workflow measured on the user's model and data."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlcheck.commands import init_seed as init
from mlcheck.commands.init_seed import init_repository, next_command
from mlcheck.data.io import write_table
from mlcheck.errors import ConfigError, DataError
from mlcheck.gates.schema import schema_gate
from mlcheck.models.load import load_model
from mlcheck.policy import load_policy
from mlcheck.results import Comparison
from mlcheck.schema import load_schema
from mlcheck.stats.metrics import metric_values
from tests.conftest import save_sklearn_model
from tests.gate_runner import run_gate

WRITTEN = ("checks/gates.toml", "checks/schema.yaml", ".github/workflows/mlcheck.yml")


@pytest.fixture(scope="module", autouse=True)
def quick_timings():
    """Init times the model for a few seconds; these tests need only a few calls."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(init, "_SINGLE_BUDGET", (0.05, 10))
        patch.setattr(init, "_BATCH_BUDGET", (0.05, 5))
        patch.setattr(init, "_SERVED_BUDGET", (0.05, 10))
        yield


@pytest.fixture(scope="module")
def reference_csv(tmp_path_factory: pytest.TempPathFactory, other_data) -> Path:
    return write_table(other_data[0], tmp_path_factory.mktemp("data") / "reference.csv")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, sklearn_model_dir, reference_csv) -> Path:
    """A repository seeded once by init_repository; the tests only read it."""
    repo = tmp_path_factory.mktemp("repo")
    seeded = init_repository(str(sklearn_model_dir), reference_csv, "label", directory=repo)
    assert seeded.written == [repo / name for name in WRITTEN]
    assert seeded.kept == [] and seeded.task == "binary"
    return repo


def snapshot(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*") if p.is_file()}


def test_writes_the_three_files(seeded):
    assert sorted(snapshot(seeded)) == sorted(WRITTEN)


def test_policy_loads_with_thresholds_beyond_the_measured_values(
    seeded, sklearn_model_dir, other_data
):
    policy = load_policy(seeded / "checks" / "gates.toml")
    assert policy.target == "label"
    assert policy.schema.file == seeded / "checks" / "schema.yaml"
    assert policy.quality.bootstrap.resamples == 1000
    assert policy.quality.bootstrap.confidence == 0.95

    frame = other_data[0]
    scores = load_model(str(sklearn_model_dir)).predict(frame.drop(columns=["label"]))
    rules = {t.metric: t for t in policy.quality.thresholds}
    assert sorted(rules) == ["accuracy", "calibration_error", "log_loss", "recall", "roc_auc"]
    measured = metric_values(frame["label"].to_numpy(), scores, list(rules))
    for name, rule in rules.items():
        value = float(measured[name][0])
        if name in ("accuracy", "roc_auc", "recall"):
            assert rule.comparison is Comparison.GE
            assert rule.threshold < value, (name, rule.threshold, value)
        else:
            assert rule.comparison is Comparison.LE
            assert rule.threshold > value, (name, rule.threshold, value)


def test_policy_comments_say_what_was_measured_and_why_the_margin(seeded):
    text = (seeded / "checks" / "gates.toml").read_text()
    assert "# measured on reference.csv: " in text
    assert "margin of 0.02" in text and "first" in text and "regression" in text
    data = tomllib.loads(text)
    for name in ("accuracy", "roc_auc", "recall", "log_loss", "calibration_error"):
        bound = "min" if name in data["quality"]["min"] else "max"
        value = data["quality"][bound][name]
        assert round(value, 4) == value
        lines = text.splitlines()
        at = lines.index(f"{name} = {value:.4f}")
        assert lines[at - 1].startswith("# measured on reference.csv: ")


def test_slices_cover_the_categorical_column(seeded):
    slices = load_policy(seeded / "checks" / "gates.toml").quality.slices
    assert slices is not None
    assert slices.columns == ("colour",)
    assert slices.metric == "roc_auc"
    assert slices.min_size == 60  # 3,000 rows // 50
    assert 0.08 <= slices.max_gap <= 1.0


def test_schema_loads_and_the_reference_passes_it(seeded, other_data):
    schema = load_schema(seeded / "checks" / "schema.yaml")
    assert set(schema.columns) == {"x1", "x2", "colour", "label"}
    assert schema_gate(other_data[0], schema).passed


def test_workflow_runs_mlcheck_gate_with_paths_from_the_root(
    tmp_path, sklearn_model_dir, reference_csv
):
    data = tmp_path / "data"
    reference = write_table(pd.read_csv(reference_csv), data / "ref.csv")
    current = write_table(pd.read_csv(reference_csv).head(500), data / "cur.csv")
    init_repository(str(sklearn_model_dir), reference, "label", tmp_path, current=current)
    text = (tmp_path / ".github" / "workflows" / "mlcheck.yml").read_text()
    workflow = yaml.safe_load(text)
    assert set(workflow[True]) == {"pull_request", "push"}  # YAML 1.1 reads `on` as true
    assert workflow[True]["push"] == {"branches": ["main"]}
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert {k: v for k, v in job["env"].items() if not k.endswith("_IMAGE")} == {
        "MLCHECK_MODEL": str(sklearn_model_dir),  # outside the repository: as given
        "MLCHECK_REFERENCE": "data/ref.csv",
        "MLCHECK_CURRENT": "data/cur.csv",
        "MLCHECK_TARGET": "label",
        "MLCHECK_POLICY": "checks/gates.toml",
    }
    checkout, python, install, gate, upload = job["steps"]
    assert checkout["uses"].startswith("actions/checkout@")
    assert python["uses"].startswith("actions/setup-python@")
    assert "pip install 'mlcheck[load,stack,evidently]==" in install["run"]
    assert "-r " not in install["run"]  # no requirements.txt in this repository
    assert "# No requirements.txt was found" in text
    for option in ("model", "reference", "current", "target", "policy"):
        assert f'--{option} "$MLCHECK_{option.upper()}"' in gate["run"]
    assert "--stack containers" in gate["run"]
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports"
    assert "${{ github.job }}" in upload["with"]["name"]


def test_workflow_without_current_gates_the_reference_and_says_so(seeded, reference_csv):
    text = (seeded / ".github" / "workflows" / "mlcheck.yml").read_text()
    env = yaml.safe_load(text)["jobs"]["gate"]["env"]
    assert env["MLCHECK_CURRENT"] == env["MLCHECK_REFERENCE"] == str(reference_csv)
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.strip().startswith("MLCHECK_CURRENT:")]
    assert lines[at - 1].strip().startswith("# ") and "newly labelled rows" in lines[at - 1]


def test_second_call_keeps_every_file_and_changes_nothing(seeded, sklearn_model_dir, reference_csv):
    before = snapshot(seeded)
    again = init_repository(str(sklearn_model_dir), reference_csv, "label", directory=seeded)
    assert again.written == [] and again.kept == [seeded / name for name in WRITTEN]
    assert snapshot(seeded) == before


def test_an_existing_file_is_kept_and_the_others_written(
    tmp_path, sklearn_model_dir, reference_csv
):
    workflow = tmp_path / ".github" / "workflows" / "mlcheck.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("name: mine\n")
    seeded = init_repository(str(sklearn_model_dir), reference_csv, "label", tmp_path)
    assert seeded.kept == [workflow]
    assert seeded.written == [tmp_path / name for name in WRITTEN[:2]]
    assert workflow.read_text() == "name: mine\n"


@pytest.mark.parametrize("margin", [-0.01, 0.51, math.nan])
def test_bad_margin_is_refused(tmp_path, sklearn_model_dir, reference_csv, margin):
    with pytest.raises(ConfigError, match=rf"--margin={margin!r}"):
        init_repository(str(sklearn_model_dir), reference_csv, "label", tmp_path, margin=margin)
    assert not any(tmp_path.iterdir())


def test_bad_inputs_name_the_argument(tmp_path, sklearn_model_dir, reference_csv):
    with pytest.raises(DataError, match="--reference="):
        init_repository(str(sklearn_model_dir), tmp_path / "missing.csv", "label", tmp_path)
    with pytest.raises(DataError, match="target='y'"):
        init_repository(str(sklearn_model_dir), reference_csv, "y", tmp_path)
    with pytest.raises(ConfigError):
        init_repository(str(tmp_path / "no_model"), reference_csv, "label", tmp_path)
    assert not any(tmp_path.iterdir())


def test_no_sliceable_column_disables_slices(tmp_path, sklearn_model_dir, other_data):
    frame = other_data[0].assign(colour="red")  # one value: nothing to slice
    reference = write_table(frame, tmp_path / "one_colour.parquet")
    repo = tmp_path / "repo"
    init_repository(str(sklearn_model_dir), reference, "label", repo)
    text = (repo / "checks" / "gates.toml").read_text()
    assert tomllib.loads(text)["quality"]["slices"] == {"enabled": False}
    assert load_policy(repo / "checks" / "gates.toml").quality.slices is None


def test_next_command():
    assert next_command("models:/bank@challenger", Path("ref data.csv"), None) == (
        "mlcheck gate --current 'ref data.csv' --reference 'ref data.csv' "
        "--model models:/bank@challenger"
    )
    assert next_command("m", "r.csv", "c.csv", policy=Path("repo/checks/gates.toml")) == (
        "mlcheck gate --current c.csv --reference r.csv --model m --policy repo/checks/gates.toml"
    )


def save_shuffled_model(train: pd.DataFrame, out: Path) -> Path:
    """The fixture's pipeline trained on permuted labels: it has learnt nothing."""
    shuffled = np.random.default_rng(0).permutation(train["label"].to_numpy())
    return save_sklearn_model(train, shuffled, out)


def gate(model: Path, reference: Path, current: Path, policy: Path, report_dir: Path):
    args = ["suites/model_quality/test_quality.py", "--model", model, "--reference", reference]
    args += ["--current", current, "--policy", policy, "--stack", "off"]
    return run_gate([*args, "--report-dir", report_dir, "--", "-p", "no:locust"], timeout=300)


@pytest.mark.slow
def test_generated_policy_passes_the_model_and_blocks_a_shuffled_one(
    seeded, sklearn_model_dir, reference_csv, other_data, tmp_path
):
    # With the default margin the first run, on the reference itself, passes.
    run = gate(
        sklearn_model_dir,
        reference_csv,
        reference_csv,
        seeded / "checks" / "gates.toml",
        tmp_path / "first",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    # A fresh 3,000-row sample sits up to ~0.035 below the reference (recall): within the
    # reference's interval, which the seeded thresholds allow on top of the default margin.
    policy = seeded / "checks" / "gates.toml"
    current = write_table(other_data[1], tmp_path / "current.csv")
    run = gate(sklearn_model_dir, reference_csv, current, policy, tmp_path / "good")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    gates = json.loads((tmp_path / "good" / "gate.json").read_text())["gates"]
    names = {g["name"] for g in gates}
    assert {"quality.accuracy", "quality.roc_auc", "quality.slice.colour"} <= names

    shuffled = save_shuffled_model(other_data[0], tmp_path / "shuffled")
    run = gate(shuffled, reference_csv, current, policy, tmp_path / "bad")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    gates = json.loads((tmp_path / "bad" / "gate.json").read_text())["gates"]
    failed = {g["name"] for g in gates if g["outcome"] == "FAIL"}
    assert "quality.roc_auc" in failed
