"""The task (binary, multiclass, regression): decided from the model or the policy, and a
mismatch is a clear error naming the fix, never a pass."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest

from mlcheck.data.labels import class_indices, regression_targets
from mlcheck.errors import ConfigError, DataError
from mlcheck.gates.quality import metric_gates
from mlcheck.models.load import load_model
from mlcheck.policy import load_policy
from mlcheck.results import Outcome
from mlcheck.serving.responses import answer
from mlcheck.stats.catalogue import METRICS
from mlcheck.stats.tasks import TASK_CHOICES, TASKS, Task, TaskChoice, as_task
from tests.conftest import ROOT


def _frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})


#: Named requirements: MLflow writes these instead of inferring them, which loads the model in
#: a fresh Python subprocess for each save (seconds each; what these tests check is the task).
SKLEARN = ["scikit-learn"]


def _save(model, frame: pd.DataFrame, out: Path) -> str:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow.sklearn.save_model(
        model, str(out), signature=infer_signature(frame), pip_requirements=SKLEARN
    )
    return str(out)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from sklearn.linear_model import LinearRegression, LogisticRegression

    frame = _frame()
    folder = tmp_path_factory.mktemp("task-models")
    labels = np.array(["red", "green", "blue"])[(frame["a"] > 0).astype(int) + (frame["b"] > 0)]
    return {
        "frame": frame,
        "multiclass": _save(LogisticRegression().fit(frame, labels), frame, folder / "multi"),
        "regression": _save(
            LinearRegression().fit(frame, frame["a"] * 3 + 1), frame, folder / "reg"
        ),
    }


def test_auto_finds_each_task_and_its_classes(models):
    multi = load_model(models["multiclass"])
    assert multi.task == "multiclass" and multi.classes == ("blue", "green", "red")
    probabilities = multi.predict(models["frame"])
    assert probabilities.shape == (300, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    regressor = load_model(models["regression"])
    assert regressor.task == "regression" and regressor.classes is None
    assert regressor.predict(models["frame"]).shape == (300,)


@pytest.mark.parametrize(
    ("which", "task", "says"),
    [
        ("regression", "binary", "is a regressor"),
        ("regression", "multiclass", "is a regressor"),
        ("multiclass", "regression", "is a multiclass classifier"),
        ("multiclass", "binary", "is a multiclass classifier"),
    ],
)
def test_a_model_gated_as_another_task_is_a_config_error(models, which, task, says):
    with pytest.raises(ConfigError, match=f"task='{task}'.*{says}.*Set \\[data\\] task"):
        load_model(models[which], task)


def test_an_unknown_task_names_the_choices(models):
    with pytest.raises(ConfigError, match="--task='ordinal' is not a task; use one of: auto"):
        load_model(models["regression"], "ordinal")


def test_the_task_names_are_the_task_types():
    assert TASKS == get_args(Task) == ("binary", "multiclass", "regression")
    assert TASK_CHOICES == get_args(TaskChoice) == ("auto", *TASKS)
    assert [as_task(task) for task in TASKS] == list(TASKS)
    for text in ("auto", "ordinal", "Binary", ""):
        with pytest.raises(ValueError, match=f"task {text!r} is not one of binary, multiclass"):
            as_task(text)


def test_the_column_kinds_are_one_type():
    """The drift tests' kinds are `ColumnKind`; a feature's kind maps onto one, and the labels
    and a model's outputs are compared by the kind their task gives them."""
    from mlcheck.features import COLUMN_KINDS, ColumnKind, FeatureKind
    from mlcheck.stats.catalogue import KINDS, label_kind, output_kind

    assert KINDS == COLUMN_KINDS == get_args(ColumnKind) == ("numeric", "categorical")
    assert {kind: kind.column_kind for kind in FeatureKind} == {
        FeatureKind.NUMERIC: "numeric",
        FeatureKind.INTEGER: "numeric",
        FeatureKind.CATEGORICAL: "categorical",
        FeatureKind.BOOLEAN: "categorical",
    }
    assert [label_kind(task) for task in TASKS] == ["categorical", "categorical", "numeric"]
    assert [output_kind(task) for task in TASKS] == ["numeric", "categorical", "numeric"]


def test_a_class_the_model_never_saw_is_a_data_error():
    frame = pd.DataFrame({"y": ["red", "green", "purple"]})
    with pytest.raises(DataError, match=r"'purple'.*a class the model never saw"):
        class_indices(frame, "y", ("blue", "green", "red"), "current data")
    # a CSV's numbers match a model's text labels (and the reverse)
    numbers = pd.DataFrame({"y": [1, 2, 3]})
    assert class_indices(numbers, "y", ("1", "2", "3"), "current data").tolist() == [0, 1, 2]


def test_a_non_numeric_regression_target_is_a_data_error():
    frame = pd.DataFrame({"price": [1.0, "cheap", None]})
    with pytest.raises(DataError, match=r"must be numeric for a regressor.*'cheap'"):
        regression_targets(frame, "price", "current data")


def test_probabilities_that_do_not_sum_to_one_are_refused(tmp_path):
    import mlflow.pyfunc

    class Unnormalised(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return np.full((len(model_input), 3), 0.5)

    frame = _frame(10)
    mlflow.pyfunc.save_model(
        str(tmp_path / "m"), python_model=Unnormalised(), pip_requirements=["mlflow"]
    )
    model = load_model(str(tmp_path / "m"), "multiclass")
    with pytest.raises(DataError, match="do not sum to one"):
        model.predict(frame)


def test_a_plain_pyfunc_is_decided_by_its_outputs(tmp_path):
    import mlflow.pyfunc

    class Values(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return np.asarray(model_input["a"]) * 100.0

    mlflow.pyfunc.save_model(
        str(tmp_path / "m"), python_model=Values(), pip_requirements=["mlflow"]
    )
    model = load_model(str(tmp_path / "m"))
    assert model.task is None
    model.predict(_frame(10))
    assert model.task == "regression"


def test_a_metric_of_another_task_is_an_error_gate_not_a_pass():
    policy = load_policy(ROOT / "checks" / "gates.toml").quality  # binary thresholds
    y = np.random.default_rng(0).normal(size=200)
    gates = metric_gates(y, y + 0.1, policy, "regression")
    assert gates and all(g.outcome is Outcome.ERROR for g in gates)
    assert "accuracy is not a regression metric" in gates[0].reason


def test_mape_with_a_zero_target_is_refused_with_the_reason():
    from dataclasses import replace

    from mlcheck.policy import MetricThreshold
    from mlcheck.results import Comparison

    policy = replace(
        load_policy(None).quality, thresholds=(MetricThreshold("mape", Comparison.LE, 0.2),)
    )
    y = np.array([0.0, 1.0, 2.0, 3.0] * 50)
    (gate,) = metric_gates(y, y + 0.1, policy, "regression")
    assert gate.outcome is Outcome.ERROR and "target value(s) are 0" in gate.reason


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_each_example_policy_loads_with_metrics_of_its_task(task):
    policy = load_policy(ROOT / "checks" / "examples" / f"{task}.toml")
    assert policy.task == task
    metrics = [t.metric for t in policy.quality.rules(task)]
    metrics += [m for m, _ in policy.compare.margins_for(task)]
    assert metrics and all(task in METRICS[m].tasks for m in metrics), metrics


def test_the_answer_of_each_task():
    binary = answer("binary", np.array([0.2, 0.9]), ("no", "yes"), 0.5)
    assert binary.predictions == [
        {"class": "no", "probability": 0.2},
        {"class": "yes", "probability": 0.9},
    ]
    multi = answer("multiclass", np.array([[0.1, 0.7, 0.2]]), ("a", "b", "c"), 0.5)
    assert multi.predictions == [{"class": "b", "probabilities": {"a": 0.1, "b": 0.7, "c": 0.2}}]
    assert multi.classes == ["b"]
    regression = answer("regression", np.array([12.5]), None, 0.5)
    assert regression.predictions == [{"value": 12.5}] and regression.values.tolist() == [12.5]


def test_lightgbm_models_of_each_kind_are_loaded_with_their_task(tmp_path):
    """MLflow's lightgbm flavor: the scikit-learn API (classifier, regressor) and a Booster."""
    import lightgbm as lgb
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    from mlcheck.probes.pyfunc import pyfunc_serves_labels

    frame = _frame(400)
    classes = (frame["a"] > 0).astype(int) + (frame["b"] > 0)
    classifier = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, classes)
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(frame, classes), 10
    )
    regressor = lgb.LGBMRegressor(n_estimators=20, verbose=-1).fit(frame, frame["a"] * 3)
    for name, model in (("clf", classifier), ("booster", booster), ("reg", regressor)):
        mlflow.lightgbm.save_model(
            model,
            str(tmp_path / name),
            signature=infer_signature(frame),
            pip_requirements=["lightgbm"],
        )
    loaded = {name: load_model(str(tmp_path / name)) for name in ("clf", "booster", "reg")}
    assert [m.task for m in loaded.values()] == ["multiclass", "multiclass", "regression"]
    np.testing.assert_allclose(loaded["clf"].predict(frame), classifier.predict_proba(frame))
    np.testing.assert_allclose(loaded["booster"].predict(frame), booster.predict(frame))
    np.testing.assert_allclose(loaded["reg"].predict(frame), regressor.predict(frame))
    # MLflow's pyfunc answers labels for the scikit-learn API classifier only
    served = [pyfunc_serves_labels(str(tmp_path / n), loaded[n].task) for n in loaded]
    assert served == [True, False, False]


def test_init_measures_a_regressor(models, tmp_path, monkeypatch):
    from mlcheck.commands import init_seed as init
    from mlcheck.data.io import write_table
    from mlcheck.policy import load_policy

    for budget in ("_SINGLE_BUDGET", "_BATCH_BUDGET", "_SERVED_BUDGET"):
        monkeypatch.setattr(init, budget, (0.05, 5))
    frame = models["frame"].assign(y=models["frame"]["a"] * 3 + 1)
    exact = write_table(frame, tmp_path / "exact.csv")
    with pytest.raises(DataError, match="every metric's interval collapsed"):  # no error at all
        init.init_repository(models["regression"], exact, "y", directory=tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
    noise = np.random.default_rng(0).normal(scale=0.5, size=len(frame))
    data = write_table(frame.assign(y=frame["y"] + noise), tmp_path / "reference.csv")
    seeded = init.init_repository(models["regression"], data, "y", directory=tmp_path / "repo")
    assert seeded.task == "regression" and len(seeded.written) == 3
    policy = load_policy(tmp_path / "repo" / "checks" / "gates.toml")
    assert policy.task == "regression"
    assert [t.metric for t in policy.quality.thresholds] == ["r2", "rmse", "mae"]
