"""A multiclass classifier and a regressor, each a scikit-learn model saved with MLflow on data
generated here, gated by configuration only through the quality, drift, latency, serving and
compare suites: a good model passes; one trained on shuffled targets is blocked, with messages
naming the metric, its interval and the threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcheck.data.io import write_table
from tests.conftest import save_fitted
from tests.test_gate_cli import gate, verdict

pytestmark = pytest.mark.slow

POLICY = """
[data]
target = "{target}"
task = "{task}"
[quality.slices]
columns = ["region"]
min_size = 100
max_gap = {max_gap}
[load]
run_time_s = 4
users = 5
min_rps = 1
"""


def _frame(task: str, rows: int, seed: int) -> pd.DataFrame:
    from sklearn.datasets import make_classification, make_regression

    if task == "multiclass":
        x, y = make_classification(
            rows,
            n_features=6,
            n_informative=4,
            n_classes=3,
            n_clusters_per_class=1,
            class_sep=2.0,
            random_state=seed,
        )
        target = np.array(["low", "mid", "high"])[y]  # labels of any type, not only 0/1
    else:
        x, target = make_regression(rows, n_features=6, noise=8.0, random_state=seed)
        target = target + 500.0  # no zero targets: MAPE is defined
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    frame["region"] = np.where(x[:, 0] > 0, "north", "south")
    frame["label"] = target
    return frame


def _save(frame: pd.DataFrame, task: str, out, shuffle: bool):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = frame.drop(columns=["label"])
    target = frame["label"].to_numpy()
    if shuffle:
        target = np.random.default_rng(7).permutation(target)
    encode = ColumnTransformer([("region", OneHotEncoder(), ["region"])], remainder="passthrough")
    learner = LogisticRegression(max_iter=500) if task == "multiclass" else LinearRegression()
    model = Pipeline([("encode", encode), ("learn", learner)]).fit(features, target)
    return save_fitted(model, features, out)


@pytest.fixture(scope="module", params=["multiclass", "regression"])
def task_setup(request, tmp_path_factory):
    """Data files, a policy, a good model and one trained on shuffled targets."""
    task = request.param
    folder = tmp_path_factory.mktemp(task)
    frame = _frame(task, 3000, seed=1)
    train, data = frame.iloc[:2000], frame.iloc[2000:]  # the same distribution, unseen rows
    policy = folder / "gates.toml"
    policy.write_text(
        POLICY.format(target="label", task=task, max_gap=0.1 if task == "multiclass" else 0.2)
    )
    return {
        "task": task,
        "policy": policy,
        "reference": write_table(data.iloc[:500], folder / "reference.csv"),
        "current": write_table(data.iloc[500:], folder / "current.parquet"),
        "good": _save(train, task, folder / "good", shuffle=False),
        "shuffled": _save(train, task, folder / "shuffled", shuffle=True),
    }


def _gate(setup, model: str, tmp_path):
    args = [
        "--model",
        str(setup[model]),
        "--champion",
        str(setup["good"]),
        "--policy",
        str(setup["policy"]),
        "--reference",
        str(setup["reference"]),
        "--current",
        str(setup["current"]),
        "--stack",
        "off",
    ]
    run = gate(*args, report_dir=tmp_path / model)
    return run, {g["name"]: g for g in verdict(tmp_path / model)["gates"]}


def test_a_good_model_of_each_task_passes(task_setup, tmp_path):
    run, gates = _gate(task_setup, "good", tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    expected = {
        "multiclass": {
            "quality.accuracy",
            "quality.f1_macro",
            "quality.recall_min",
            "quality.log_loss",
            "compare.f1_macro",
        },
        "regression": {"quality.r2", "quality.baseline", "compare.r2"},
    }[task_setup["task"]]
    common = {
        "quality.slice.region",
        "drift.prediction",
        "drift.target",
        "latency.http.p99",
        "latency.predict.batch",
        "serving.parity",
        "load.p95",
    }
    passed = {name for name, g in gates.items() if g["outcome"] == "PASS"}
    assert expected | common <= passed, sorted(set(gates) - passed)
    first = gates["quality.accuracy" if task_setup["task"] == "multiclass" else "quality.r2"]
    assert first["details"]["task"] == task_setup["task"]
    if task_setup["task"] == "multiclass":
        assert set(first["details"]["classes"]) == {"low", "mid", "high"}


def test_a_model_trained_on_shuffled_targets_is_blocked(task_setup, tmp_path):
    run, gates = _gate(task_setup, "shuffled", tmp_path)
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    blocked = {
        "multiclass": ("quality.accuracy", "accuracy=", ">= 0.7"),
        "regression": ("quality.r2", "r2=", ">= 0.5"),
    }[task_setup["task"]]
    name, metric, threshold = blocked
    assert gates[name]["outcome"] == "FAIL"
    message = next(line for line in run.stdout.splitlines() if line.strip().startswith(f"{name}:"))
    assert metric in message and threshold in message and "[" in message  # the interval
    compare = "compare.accuracy" if task_setup["task"] == "multiclass" else "compare.r2"
    assert gates[compare]["outcome"] == "FAIL"
    if task_setup["task"] == "regression":
        assert gates["quality.baseline"]["outcome"] == "FAIL"
