"""The core install (`pip install mlcheck`, no extras) gates a scikit-learn model.

The wheel is built from the checkout's files and installed with its core dependencies into a
fresh virtual environment (pip's cache and the pinned versions of constraints.txt make it a
minute or so here). Without xgboost, locust, Dask, Evidently and testcontainers: the core
imports, the quality, schema and drift gates pass, the load gate is skipped naming
`mlcheck[load]`, and the demo model is exit 2 in one line naming `mlcheck[xgboost]`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

EXTRAS = ("xgboost", "lightgbm", "locust", "dask", "distributed", "bokeh", "evidently")
EXTRAS += ("testcontainers",)
RUN = [
    "--reference",
    "reference.csv",
    "--current",
    "current.csv",
    "--target",
    "y",
    "--stack",
    "off",
]


def _run(command: list[str | Path], cwd: Path, timeout: float = 600, **env: str):
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def core(tmp_path_factory) -> Path:
    """The bin folder of a fresh environment with the core install of the checkout's wheel."""
    base = tmp_path_factory.mktemp("core")
    source = base / "source"
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = _run([sys.executable, "-m", "build", "--wheel", "--outdir", base / "dist"], source)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next((base / "dist").glob("mlcheck-*.whl"))

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    started = time.perf_counter()
    pip = _run(
        [venv / "bin" / "python", "-m", "pip", "install", "-c", ROOT / "constraints.txt", wheel],
        base,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    listed = _run([venv / "bin" / "python", "-m", "pip", "list", "--format=json"], base)
    count = len(json.loads(listed.stdout))
    print(f"core install: {time.perf_counter() - started:.0f} s, {count} packages")
    return venv / "bin"


@pytest.fixture(scope="module")
def sklearn_run(tmp_path_factory) -> Path:
    """A folder with a scikit-learn model (MLflow) and its reference and current data."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("sklearn-run")

    def frame(rows: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        data = pd.DataFrame(
            {
                "a": 3 * rng.normal(size=rows),
                "b": rng.normal(size=rows),
                "c": rng.uniform(0, 9, rows),
            }
        )
        data["y"] = (data["a"] + 0.5 * data["b"] + rng.normal(0, 0.05, rows) > 0).astype(int)
        return data

    train = frame(4000, 0)
    features = train.drop(columns=["y"])
    model = LogisticRegression().fit(features, train["y"])
    mlflow.sklearn.save_model(
        model,
        str(folder / "model"),
        signature=infer_signature(features, model.predict_proba(features)[:, 1]),
    )
    frame(2000, 1).to_csv(folder / "reference.csv", index=False)
    frame(2000, 2).to_csv(folder / "current.csv", index=False)
    return folder


def test_the_core_has_none_of_the_extras_and_imports(core, tmp_path):
    code = (
        "import importlib.util, sys\n"
        "import mlcheck.cli, mlcheck.plugin, mlcheck.run.steps, mlcheck.serving.app\n"
        f"extras = {EXTRAS!r}\n"
        "print(' '.join(m for m in extras if importlib.util.find_spec(m) or m in sys.modules))"
    )
    out = _run([core / "python", "-c", code], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
    assert _run([core / "mlcheck", "gate", "--help"], tmp_path).returncode == 0


def test_a_scikit_learn_model_passes_with_the_load_gate_skipped(core, sklearn_run):
    out = _run(
        [core / "mlcheck", "gate", "--model", "model", *RUN],
        sklearn_run,
        MLCHECK_HOME=str(sklearn_run / ".mlcheck"),
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    gates = {
        g["name"]: g for g in json.loads((sklearn_run / "reports/gate.json").read_text())["gates"]
    }
    for name in ("quality.accuracy", "schema.inputs", "drift.dataset", "latency.http.p95"):
        assert gates[name]["outcome"] == "PASS", gates[name]
    assert gates["load"]["outcome"] == "SKIP"
    assert "pip install 'mlcheck[load]'" in gates["load"]["reason"]
    assert "pip install 'mlcheck[evidently]'" in out.stdout  # drift.html: a note, no verdict
    assert not (sklearn_run / "reports/drift.html").exists()


def test_the_load_suite_named_without_locust_is_exit_2(core, sklearn_run):
    bundled = next(core.parent.glob("lib/python*/site-packages/mlcheck/_bundle/suites"))
    suite = bundled / "latency" / "test_load.py"
    out = _run(
        [core / "mlcheck", "gate", suite, "--model", "model", *RUN, "--report-dir", "reports-load"],
        sklearn_run,
        MLCHECK_HOME=str(sklearn_run / ".mlcheck"),
    )
    assert out.returncode == 2, out.stdout[-4000:] + out.stderr[-2000:]
    gates = json.loads((sklearn_run / "reports-load/gate.json").read_text())["gates"]
    (load,) = [g for g in gates if g["name"] == "load"]
    assert load["outcome"] == "ERROR" and "pip install 'mlcheck[load]'" in load["reason"]


def test_the_demo_without_xgboost_is_exit_2_in_one_line(core, tmp_path):
    out = _run([core / "mlcheck", "gate", "--model", "demo", "--stack", "off"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "mlcheck gate: error: --model demo (an XGBoost model) needs xgboost, which is not "
        "installed: pip install 'mlcheck[xgboost]'"
    ]
    out = _run([core / "mlcheck", "serve", "--model", "demo"], tmp_path)
    assert out.returncode == 2 and "pip install 'mlcheck[xgboost]'" in out.stderr
    assert not (tmp_path / ".mlcheck").exists()  # failed before generating the demo data


# ------------------------------------------------------------------ a user's first hour, core only
#
# An empty repository with the user's own scikit-learn regressor and three-class pipeline (a
# text category, missing values in a number and in the text), mlcheck installed without
# extras: `mlcheck init` measures and writes the policy, `mlcheck gate` on the same data
# passes (latency included; the load SKIPs naming its extra), `--only drift` is a partial run
# on record, and a model whose package is absent stops at once with one message.


@pytest.mark.exclusive  # init measures the thresholds that the gate then holds latency to
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_init_then_gate_pass_in_a_user_repository(core, tmp_path, task):
    from tests.test_init_tasks import seeded_repo

    repo = seeded_repo(tmp_path, task, mlcheck=(str(core / "mlcheck"),))
    home = {"MLCHECK_HOME": str(tmp_path / ".mlcheck")}
    data = ["--model", "model", "--reference", "reference.csv", "--current", "reference.csv"]
    out = _run([core / "mlcheck", "gate", *data, "--stack", "off"], repo, **home)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    report = json.loads((repo / "reports/gate.json").read_text())
    gates = {g["name"]: g["outcome"] for g in report["gates"]}
    assert gates["latency.predict.single"] == gates["latency.http.p95"] == "PASS", gates
    assert gates["quality.slice.region"] == "PASS" and gates["load"] == "SKIP"
    assert report["context"]["selection"]["full"] is True

    only = [*data, "--stack", "off", "--only", "drift", "--report-dir", "drift-only"]
    out = _run([core / "mlcheck", "gate", *only], repo, **home)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    report = json.loads((repo / "drift-only/gate.json").read_text())
    selection = report["context"]["selection"]
    assert selection["full"] is False and selection["suites"] == ["drift"]
    assert {g["name"].split(".")[0] for g in report["gates"]} == {"drift"}
    assert "partial run" in (repo / "drift-only/summary.md").read_text()
    assert "partial run" in out.stderr.strip().splitlines()[-1]


def test_a_model_whose_package_is_absent_is_exit_2_with_one_message(core, tmp_path):
    import lightgbm
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    labels = (features["a"] > 0).astype(int)
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(features, labels)
    signature = infer_signature(features, model.predict_proba(features)[:, 1])
    mlflow.lightgbm.save_model(model, str(tmp_path / "model"), signature=signature)
    features.assign(y=labels).to_csv(tmp_path / "data.csv", index=False)
    run = ["--model", "model", "--reference", "data.csv", "--current", "data.csv"]
    out = _run([core / "mlcheck", "gate", *run, "--target", "y", "--stack", "off"], tmp_path)
    assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
    said = [line for line in (out.stdout + out.stderr).splitlines() if "lightgbm" in line]
    assert len(said) == 1 and "pip install 'mlcheck[lightgbm]'" in said[0], out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    report = json.loads((tmp_path / "reports/gate.json").read_text())
    assert report["verdict"] == "ERROR" and report["exit_code"] == 2
