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
