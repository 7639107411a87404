"""The installed tool in a user's own repository: the wheel carries what a run needs.

The wheel is built from the tracked files, installed into a fresh virtual environment (its
dependencies come from this environment's site-packages, so nothing is downloaded), and run
from an empty folder that holds none of this repository's files.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

BUNDLED = (
    "mlcheck/_bundle/suites/conftest.py",
    "mlcheck/_bundle/suites/model_quality/test_quality.py",
    "mlcheck/_bundle/stack/alerts.yml",
    "mlcheck/_bundle/stack/prometheus.yml",
    "mlcheck/_bundle/stack/grafana/dashboard.json",
    "mlcheck/_bundle/checks/gates.toml",
    "mlcheck/run/locustfile.py",
)


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(the fresh environment's bin folder, the environment to run it with)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(base / "dist")],
        source,
        dict(os.environ),
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next((base / "dist").glob("mlcheck-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(BUNDLED) <= names, sorted(set(BUNDLED) - names)

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    here = Path(site.getsitepackages()[0])
    theirs = next((venv / "lib").glob("python*/site-packages"))
    (theirs / "dependencies.pth").write_text(f"{here}\n")
    pip = _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        base,
        dict(os.environ),
    )
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": str(base),
        "MLCHECK_HOME": str(base / "mlcheck-home"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    return venv / "bin", env


def test_the_installed_package_runs_from_an_empty_folder(installed, tmp_path):
    bin_dir, env = installed
    where = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import mlcheck, mlcheck.resources as r; "
            "print(mlcheck.__file__); print(r.resource('suites'))",
        ],
        tmp_path,
        env,
    )
    assert where.returncode == 0, where.stderr
    module, suites = where.stdout.split()
    assert str(ROOT) not in module and str(ROOT) not in suites, where.stdout
    locustfile = _run([str(bin_dir / "mlcheck"), "load"], tmp_path, env)
    assert locustfile.returncode == 0 and locustfile.stdout.strip().endswith("run/locustfile.py")
    assert str(ROOT) not in locustfile.stdout
    assert list(tmp_path.iterdir()) == []


MAKE_MODELS = """
import numpy as np, pandas as pd, mlflow.sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

def make(seed, rows):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    logit = 2.5 * x1 - 1.5 * x2 + (colour == "red") * 1.0
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "label": label})

reference, current = make(1, 4000), make(2, 4000)
reference.to_csv("reference.csv", index=False)
current.to_csv("current.csv", index=False)
features = reference.drop(columns=["label"])
shuffled = np.random.default_rng(3).permutation(reference["label"].to_numpy())
for name, labels in (("model", reference["label"]), ("shuffled", shuffled)):
    encode = ColumnTransformer([("colour", OneHotEncoder(), ["colour"])], remainder="passthrough")
    pipeline = Pipeline([("encode", encode), ("classify", LogisticRegression())])
    pipeline.fit(features, labels)
    # no signature, as many real models: requests are validated with the inferred schema
    mlflow.sklearn.save_model(
        pipeline, name, serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
    )
"""


def test_a_user_repository_runs_init_then_the_gate(installed, tmp_path):
    """A model without a signature made in an empty folder, `mlcheck init`, then the gate: 0
    for the good model (every suite, the real stack as local processes), 1 for one trained on
    shuffled labels (its quality suite)."""
    bin_dir, env = installed
    made = _run([str(bin_dir / "python"), "-c", MAKE_MODELS], tmp_path, env)
    assert made.returncode == 0, made.stderr[-3000:]
    init = _run(
        [
            str(bin_dir / "mlcheck"),
            "init",
            "--model",
            "model",
            "--reference",
            "reference.csv",
            "--current",
            "current.csv",
            "--target",
            "label",
        ],
        tmp_path,
        env,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert "wrote checks/gates.toml" in init.stdout and "next: mlcheck gate" in init.stdout
    policy = tmp_path / "checks" / "gates.toml"
    text = policy.read_text()
    assert "\n[load]\n" in text  # init writes the load thresholds it measured
    policy.write_text(text.replace("\n[load]\n", "\n[load]\nrun_time_s = 5  # a shorter load\n"))

    def gate(model: str, report_dir: str, *options: str):
        command = [
            str(bin_dir / "mlcheck"), "gate", "--model", model,
            "--reference", "reference.csv", "--current", "current.csv",
            "--report-dir", report_dir, *options,
        ]  # fmt: skip
        run = _run(command, tmp_path, env, timeout=900)
        data = json.loads((tmp_path / report_dir / "gate.json").read_text())
        return run, {g["name"]: g for g in data["gates"]}

    run, gates = gate("model", "good", "--stack", "processes")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert {"quality.roc_auc", "quality.slice.colour", "schema.inputs", "load.p95"} <= set(gates)
    assert gates["serving.parity"]["outcome"] == "PASS"
    assert "validated with the schema" in run.stdout
    assert gates["stack.prometheus.requests"]["outcome"] == "PASS"
    assert gates["stack.alerts"]["details"]["stack_backend"] == "processes"
    assert (
        gates["stack.mlflow"]["outcome"] == "PASS" and "gate run logged to MLflow run" in run.stdout
    )
    assert (tmp_path / "good" / "stack" / "mlflow" / "mlflow.db").is_file()
    assert (tmp_path / "good" / "stack" / "prometheus.log").is_file()
    run, gates = gate("shuffled", "bad", "--only", "quality", "--stack", "off")
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    assert gates["quality.roc_auc"]["outcome"] == "FAIL"
