"""Shared fixtures: small models made once per session (no servers), and the one MLflow
server the registry tests share (started by the first test that asks for it).

Only light modules are imported here, at collection: the models, the load probe and the run's
inputs (Dask among them) are imported by the fixtures and helpers that use them.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

#: Under pytest-xdist each worker's native thread pools (OpenMP of XGBoost, LightGBM and
#: scikit-learn's HistGradientBoosting; BLAS) get one thread, before numpy loads, and so do
#: the gates, servers and locust runs the tests start: two workers' pools of two threads each
#: on two cores wait on descheduled threads (a HistGradientBoosting pipeline's 1,000-row batch
#: p95 reached 2.7 s beside the other worker, over the conformance matrix's 2 s). A one-worker
#: run keeps the defaults.
if os.environ.get("PYTEST_XDIST_WORKER") is not None:
    for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_pool, "1")

import numpy as np
import pandas as pd
import pytest

if TYPE_CHECKING:
    from mlcheck.policy import LoadPolicy
    from mlcheck.probes.readings import LoadStats

ROOT = Path(__file__).resolve().parent.parent


#: The pytest-xdist run this worker belongs to (None without xdist), read before the session
#: starts and removes xdist's variables from the environment.
XDIST_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")


def pytest_sessionstart(session: pytest.Session) -> None:
    """The pytest runs that tests start in a child process (pytester, a suite run by pytest
    itself) must not look like xdist workers either: the same variables `mlcheck gate` drops."""
    from mlcheck.commands.gate import gate_environment

    kept = gate_environment(os.environ)
    os.environ.clear()
    os.environ.update(kept)


#: The test files that take a minute or more (seconds on two workers, 2026-12-07), longest
#: first: run first, so a worker that draws one of them is not the last to finish while the
#: other waits (a file goes to one worker, `--dist loadfile`). Every other file keeps its
#: place after them, and each file's tests keep their order.
LONGEST_FILES = (
    "test_conformance.py",  # 270
    "test_stack_e2e.py",  # 225
    "test_gate_cli.py",  # 140
    "test_bench.py",  # 130
    "test_core_install.py",  # 130
    "test_dask_engine.py",  # 125
    "test_wheel.py",  # 120
    "test_registry.py",  # 85
    "test_tasks_e2e.py",  # 80
    "test_plugin.py",  # 80
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FILES)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Under pytest-xdist, a test marked `exclusive` runs alone: it takes an exclusive lock
    that every other test (its set-up and teardown included) holds shared, so the other worker
    pauses between two of its tests. Without xdist this does nothing."""
    run = XDIST_RUN
    if run is None:
        yield
        return
    mode = fcntl.LOCK_EX if item.get_closest_marker("exclusive") else fcntl.LOCK_SH
    with open(Path(tempfile.gettempdir()) / f"mlcheck-xdist-{run}.lock", "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def small_bank() -> pd.DataFrame:
    from mlcheck.data.bank import generate

    return generate(3000, seed=11)


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory: pytest.TempPathFactory, small_bank: pd.DataFrame) -> Path:
    """A quick XGBoost demo-like model (40 rounds on 3,000 rows)."""
    from mlcheck.data.bank import BANK_FEATURES
    from mlcheck.models.training import train_xgboost

    out = tmp_path_factory.mktemp("models") / "xgb"
    return train_xgboost(small_bank, out, target="y", rounds=40, features=BANK_FEATURES)


@pytest.fixture(scope="session")
def other_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Data unlike the demo's: two numbers and a colour, label column `label`."""

    def make(seed: int, rows: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
        colour = rng.choice(["red", "green", "blue"], size=rows)
        logit = 2.5 * x1 - 1.5 * x2 + (colour == "red") * 1.0
        label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
        return pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "label": label})

    return make(1, 3000), make(2, 3000)


def save_fitted(model: Any, features: pd.DataFrame, out: Path) -> Path:
    """A fitted scikit-learn-API model saved with mlflow.sklearn (cloudpickle), its signature
    inferred from `features` and its predictions (missing values included)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow.sklearn.save_model(
        model,
        str(out),
        signature=infer_signature(features, model.predict(features)),
        serialization_format="cloudpickle",
        pip_requirements=["scikit-learn"],
    )
    return out


def save_sklearn_model(frame: pd.DataFrame, labels: Any, out: Path, signature: bool = True) -> Path:
    """The colour-encoding logistic pipeline on `frame`'s features, fitted to `labels` and saved
    with mlflow.sklearn (with a signature unless told otherwise)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = frame.drop(columns=["label"])
    encode = ColumnTransformer([("colour", OneHotEncoder(), ["colour"])], remainder="passthrough")
    pipeline = Pipeline([("encode", encode), ("classify", LogisticRegression())])
    pipeline.fit(features, labels)
    mlflow.sklearn.save_model(
        pipeline,
        str(out),
        signature=infer_signature(features, pipeline.predict_proba(features)[:, 1])
        if signature
        else None,
        serialization_format="cloudpickle",
        pip_requirements=["scikit-learn"],
    )
    return out


@pytest.fixture(scope="session")
def sklearn_model_dir(tmp_path_factory: pytest.TempPathFactory, other_data) -> Path:
    """A scikit-learn pipeline saved with mlflow.sklearn.save_model and a signature."""
    train, _ = other_data
    return save_sklearn_model(train, train["label"], tmp_path_factory.mktemp("models") / "sklearn")


@pytest.fixture(scope="session")
def mlflow_service(tmp_path_factory: pytest.TempPathFactory):
    """One real MLflow tracking server (SQLite, local artifacts) for the session's registry
    tests, started once; each test registers its own model names."""
    from mlcheck.serving.process import free_port
    from mlcheck.stack.processes import start_mlflow_process

    work = tmp_path_factory.mktemp("mlflow")
    service = start_mlflow_process(work / "mlflow.db", work / "artifacts", free_port(), work)
    try:
        yield service
    finally:
        service.stop()


def fast_load() -> LoadPolicy:
    """A short locust run for tests: 8 users for 5 seconds (the policy module is imported
    here, not at collection: it imports the statistics catalogues)."""
    from mlcheck.policy import LoadPolicy

    return LoadPolicy(users=8, spawn_rate=8, run_time_s=5, min_rps=5)


def short_load(url: str, out: Path, workers: int = 0) -> tuple[LoadStats, int, str]:
    """Run `fast_load()` against `url` with the demo's current rows; (stats, exit code, output)."""
    from mlcheck.models.demo import demo_data_path
    from mlcheck.probes.locust import LoadRun, run_load
    from mlcheck.run.serving import LOCUSTFILE

    load = LoadRun(
        url, fast_load(), out, LOCUSTFILE, current=demo_data_path("current"), workers=workers
    )
    return run_load(load)


def pyfunc_from_code(code: str, folder: Path, name: str) -> Path:
    """An MLflow pyfunc model from Python source (no pickle) with the demo's signature."""
    import mlflow.pyfunc

    from mlcheck.data.bank import BANK_FEATURES
    from mlcheck.models.training import mlflow_signature

    source = folder / f"{name}.py"
    source.write_text(code)
    out = folder / name
    mlflow.pyfunc.save_model(
        str(out),
        python_model=str(source),
        signature=mlflow_signature(BANK_FEATURES),
        pip_requirements=["mlflow"],
    )
    return out
