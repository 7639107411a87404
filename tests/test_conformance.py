"""The conformance matrix: the model families teams have, on the data shapes they have, get
the verdicts a careful reviewer would give.

Families: XGBoost, LightGBM (each behind its scikit-learn API, after an ordinal encoder), a
scikit-learn Pipeline (OneHotEncoder + HistGradientBoosting) and a plain pyfunc; tasks: binary,
multiclass, regression. The data is made here: standardized float64 features with many digits,
an integer column, a string category, and missing values in a numeric and in the categorical
column (JSON null on the wire, NaN offline).

Each model is made once per session. Every cell goes through `mlcheck gate` end to end (each
run forked from a process that has imported what a run imports: `tests/gate_runner.py`): the
good model passes the full gate (latency and load included) with its served outputs equal to
its offline outputs (<= 1e-9) on rows with nulls, through a real serving core,
a model of shuffled labels is blocked, 8 labelled rows do not pass, a shifted current set is
blocked with the drift named, and the same current set without labels passes with the
quality gates skipped.

The cases that time nothing (no latency or load gate: the unlabelled, 8-row, shifted and
shuffled ones) run two at a time, all before the first full gate; the full gates, which measure
latency and load, run one at a time with nothing beside them.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import LabelEncoder

from mlcheck.data.io import write_table
from mlcheck.probes.http import records_from_frame
from mlcheck.resources import resource
from tests.conftest import save_fitted
from tests.test_gate_cli import gate, verdict

pytestmark = pytest.mark.slow

FAMILIES = ("xgboost", "lightgbm", "sklearn", "pyfunc")
TASKS = ("binary", "multiclass", "regression")
CELLS = [(family, task) for family in FAMILIES for task in TASKS]
#: The quality gates alone (no serving core started) for the cases that need only them.
QUALITY = "model_quality/test_quality.py"
NUMERIC = [f"x{i}" for i in range(5)]
#: A policy a good model of each task meets on these data, with a short load. The in-process
#: latency limits are set for a pipeline (an encoder before the model) on a busy 2-core
#: machine: a LightGBM pipeline's single-row p95 was 84 ms there (the defaults, 50 and 250 ms,
#: fit the demo's bare XGBoost; `mlcheck init` measures a user's own). No drift.html: the
#: matrix checks verdicts, and Evidently's import and report cost ~2 s of each of its runs.
POLICY = """
[quality.min]
{minimum}
[latency]
single_p95_ms = 500
batch_p95_ms = 2000
[load]
run_time_s = 2
users = 4
min_rps = 1
[drift]
report_rows = 0
"""
MINIMUM = {
    "binary": "accuracy = 0.80\nroc_auc = 0.85",
    "multiclass": "accuracy = 0.70",
    "regression": "r2 = 0.60",
}


def make_frame(task: str, rows: int, seed: int) -> pd.DataFrame:
    """Standardized float64 features, an integer count, a string region; NaN in `x1` and in
    `region` (3% each: under the default missing-rate limit); the label `label` (0/1, three
    named classes, or a value of scale 150)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, len(NUMERIC)))
    frame = pd.DataFrame(x, columns=NUMERIC)
    frame["count"] = rng.integers(0, 20, rows)
    frame["region"] = np.where(x[:, 2] > 0, "north", np.where(x[:, 3] > 0, "south", "west"))
    signal = 1.5 * x[:, 0] - x[:, 2] + 0.8 * (frame["region"] == "north") + 0.05 * frame["count"]
    noise = rng.standard_normal(rows) * 0.3
    if task == "binary":
        frame["label"] = (signal + noise > 0.4).astype(int)
    elif task == "multiclass":
        frame["label"] = np.array(["low", "mid", "high"])[np.digitize(signal + noise, [-0.5, 1.0])]
    else:
        frame["label"] = 150.0 * (signal + noise)
    frame.loc[rng.random(rows) < 0.03, "x1"] = np.nan
    frame.loc[rng.random(rows) < 0.03, "region"] = np.nan
    return frame


class _Pyfunc:
    """A plain pyfunc model: a fixed formula that reads NaN as zero."""

    CODE = """
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class Model(PythonModel):
    def __init__(self, task="binary"):
        self.task = task

    def load_context(self, context):
        self.task = context.model_config["task"]

    def predict(self, context, model_input, params=None):
        x = model_input.fillna({"x1": 0.0})
        north = (x["region"] == "north").to_numpy(float)
        signal = 1.5 * x["x0"].to_numpy(float) - x["x2"].to_numpy(float) + 0.8 * north
        signal = signal + 0.05 * x["count"].to_numpy(float) + 1e-3 * x["x1"].to_numpy(float)
        if self.task == "regression":
            return 150.0 * signal
        if self.task == "binary":
            return 1.0 / (1.0 + np.exp(-4.0 * (signal - 0.4)))
        logits = np.stack([-4 * signal, -4 * np.abs(signal - 0.25), 4 * (signal - 1.0)], axis=1)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return pd.DataFrame(p / p.sum(axis=1, keepdims=True), columns=["low", "mid", "high"])


import mlflow

mlflow.models.set_model(Model())
"""


def _as_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """None (what MLflow's pyfunc hands the model for a JSON null) as NaN (what a file gives);
    `where` keeps a column's dtype (`fillna` would turn a one-row text column of None into a
    float column the encoder cannot read)."""
    return frame.where(frame.notna(), np.nan)


def _estimator(family: str, task: str, none_as_nan: bool = True):
    """The family's pipeline. It starts by reading None as NaN, as a user's does once
    `serving.mlflow_parity` has shown that its encoder scores the two apart (MLflow's pyfunc
    hands a JSON null to the model as None)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder

    classify = task != "regression"
    if family == "sklearn":
        from sklearn.ensemble import HistGradientBoostingClassifier as Classifier
        from sklearn.ensemble import HistGradientBoostingRegressor as Regressor

        learner = (Classifier if classify else Regressor)(max_iter=60, random_state=0)
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    elif family == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor

        learner = (LGBMClassifier if classify else LGBMRegressor)(
            n_estimators=60, verbose=-1, random_state=0
        )
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    else:
        from xgboost import XGBClassifier, XGBRegressor

        learner = (XGBClassifier if classify else XGBRegressor)(n_estimators=60, random_state=0)
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    encode = ColumnTransformer([("region", encoder, ["region"])], remainder="passthrough")
    steps = [("encode", encode), ("learn", learner)]
    if none_as_nan:
        steps.insert(0, ("none_as_nan", FunctionTransformer(_as_nan)))
    return Pipeline(steps)


def save_model(
    family: str, task: str, train: pd.DataFrame, out: Path, shuffle: bool, none_as_nan: bool = True
) -> Path:
    """A model of `family` for `task`, fit on `train` (labels shuffled if asked), saved with
    MLflow and a signature inferred from its training data (missing values included)."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    features = train.drop(columns=["label"])
    target = train["label"].to_numpy()
    if shuffle:
        target = np.random.default_rng(7).permutation(target)
    if family == "pyfunc":
        code = out.parent / f"{out.name}_model.py"
        code.write_text(_Pyfunc.CODE)
        mlflow.pyfunc.save_model(
            str(out),
            python_model=str(code),
            signature=infer_signature(features),
            model_config={"task": task},
            pip_requirements=["pandas"],
        )
        return out
    if family == "xgboost" and task != "regression":  # XGBoost wants class indices
        target = LabelEncoder().fit_transform(target)
    return save_fitted(_estimator(family, task, none_as_nan).fit(features, target), features, out)


@pytest.fixture(scope="session")
def matrix(tmp_path_factory):
    """Per task: data files and a policy; per cell: its good model (made once)."""
    folder = tmp_path_factory.mktemp("conformance")
    made: dict = {}
    for task in TASKS:
        data = make_frame(task, 5000, seed=2)
        train, rest = data.iloc[:3000], data.iloc[3000:]
        made[task] = {
            "train": train,
            "rest": rest,
            "reference": write_table(rest.iloc[:1000], folder / f"{task}-reference.parquet"),
            "current": write_table(rest.iloc[1000:], folder / f"{task}-current.parquet"),
        }
        if task == "multiclass":  # XGBoost learns class indices: its users' labels are codes
            coded = rest.assign(label=LabelEncoder().fit(train["label"]).transform(rest["label"]))
            made["codes"] = {
                "reference": write_table(coded.iloc[:1000], folder / "codes-reference.parquet"),
                "current": write_table(coded.iloc[1000:], folder / "codes-current.parquet"),
            }
        (folder / f"{task}.toml").write_text(POLICY.format(minimum=MINIMUM[task]))
        made[task]["policy"] = folder / f"{task}.toml"
        for family in FAMILIES:
            made[family, task] = save_model(family, task, train, folder / f"{family}-{task}", False)
    made["folder"] = folder
    return made


def _data(matrix, family: str, task: str) -> dict[str, Path]:
    """The cell's reference and current files (an XGBoost classifier's labels are codes)."""
    return matrix["codes"] if (family, task) == ("xgboost", "multiclass") else matrix[task]


def _gate_args(matrix, family, task, name, current: pd.DataFrame, model: Path, *suites):
    """The `mlcheck gate` arguments of one case and its folder (its current set written there)."""
    folder = matrix["folder"] / f"{family}-{task}-{name}"
    folder.mkdir()
    current_file = write_table(current, folder / "current.parquet")
    args = [
        *[str(resource("suites", s)) for s in suites],
        "--model", str(model), "--policy", str(matrix[task]["policy"]),
        "--reference", str(_data(matrix, family, task)["reference"]),
        "--current", str(current_file),
        "--stack", "off",
    ]  # fmt: skip
    return args, folder


def _run_gate(args: list[str], folder: Path):
    """The finished `mlcheck gate` run and its gates by name (none without a gate.json)."""
    run = gate(*args, report_dir=folder / "reports")
    report = folder / "reports"
    gates = (
        {g["name"]: g for g in verdict(report)["gates"]} if (report / "gate.json").exists() else {}
    )
    return run, gates


def _gate(matrix, family, task, name, current: pd.DataFrame, model: Path, *suites):
    return _run_gate(*_gate_args(matrix, family, task, name, current, model, *suites))


def _why(run) -> str:
    return run.stdout[-4000:] + run.stderr[-2000:]


#: The cases of a cell that start no serving core and time nothing (quality, schema and drift
#: gates alone): short `mlcheck gate` runs, two at a time.
SIDE_WORKERS = 2


@pytest.fixture(scope="module")
def side_cases(matrix):
    """Per cell, its four cases besides the good model's full gate, run before any cell's full
    gate (which measures latency and load, alone): the same current set without labels, 8
    labelled rows, a shifted current set, and a model of shuffled labels (not for the pyfunc,
    a formula with no labels to learn from). (family, task, case) -> (run, gates by name)."""
    runs = {}
    pool = ThreadPoolExecutor(SIDE_WORKERS)
    try:
        for family, task in CELLS:
            current = pd.read_parquet(_data(matrix, family, task)["current"])
            model = matrix[family, task]
            shifted = current.copy()
            shifted[["x0", "x2"]] += 1.0
            cases = {
                "unlabelled": (current.drop(columns=["label"]), model, QUALITY, "schema", "drift"),
                "eight": (current.head(8), model, QUALITY),
                "shifted": (shifted, model, "drift"),
            }
            for name, (rows, used, *suites) in cases.items():
                args = _gate_args(matrix, family, task, name, rows, used, *suites)
                runs[family, task, name] = pool.submit(_run_gate, *args)
        for family, task in CELLS:  # trained while the cases above run
            if family == "pyfunc":
                continue
            current = pd.read_parquet(_data(matrix, family, task)["current"])
            folder = matrix["folder"]
            train = matrix[task]["train"]
            bad = save_model(family, task, train, folder / f"{family}-{task}-bad", True)
            args = _gate_args(matrix, family, task, "shuffled", current, bad, QUALITY)
            runs[family, task, "shuffled"] = pool.submit(_run_gate, *args)
        # the pipeline without the None-as-NaN step (test_a_pipeline_that_scores_none_apart...)
        task = "regression"
        train, folder = matrix[task]["train"], matrix["folder"]
        bare = save_model("sklearn", task, train, folder / "sklearn-bare", False, False)
        current = pd.read_parquet(matrix[task]["current"])
        args = _gate_args(matrix, "sklearn", task, "bare", current, bare, "model_quality")
        runs["sklearn", task, "bare"] = pool.submit(_run_gate, *args)
        return {key: future.result() for key, future in runs.items()}
    finally:  # an interrupted session waits for the two runs under way, not the queued ones
        pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize(("family", "task"), CELLS)
def test_a_cell_gets_the_verdicts_a_reviewer_would_give(matrix, side_cases, family, task):
    current = pd.read_parquet(_data(matrix, family, task)["current"])
    model = matrix[family, task]

    run, gates = _gate(matrix, family, task, "good", current, model)
    assert run.returncode == 0, _why(run)
    passed = {n for n, g in gates.items() if g["outcome"] == "PASS"}
    assert {"serving.parity", "latency.http.p95", "load.p95", "schema.inputs"} <= passed
    # served outputs equal offline outputs, on rows with nulls (JSON null on the wire, NaN
    # offline): the parity gates score the first 200 current rows
    parity_rows = current.head(gates["serving.parity"]["details"]["rows"])
    assert parity_rows["x1"].isna().any() and parity_rows["region"].isna().any()
    assert gates["serving.parity"]["value"] <= 1e-9
    assert "quality.slice" not in passed  # no demo slices leak into a user's run
    # a good model answers every row, one at a time too (within the limits is not enough)
    assert gates["latency.http.errors"]["details"]["statuses"] == {"200": 400}
    assert gates["load.failures"]["value"] == 0

    run, gates = side_cases[family, task, "unlabelled"]
    assert run.returncode == 0, _why(run)
    quality = [g for n, g in gates.items() if n.startswith("quality.") and "estimated" not in n]
    assert quality and all(g["outcome"] == "SKIP" for g in quality), quality
    assert gates["schema.inputs"]["outcome"] == "PASS"

    run, gates = side_cases[family, task, "eight"]
    assert run.returncode != 0, _why(run)

    run, gates = side_cases[family, task, "shifted"]
    assert run.returncode == 1, _why(run)
    assert {"drift.x0", "drift.x2"} <= {n for n, g in gates.items() if g["outcome"] == "FAIL"}

    if family != "pyfunc":  # a formula has no labels to learn from
        run, gates = side_cases[family, task, "shuffled"]
        assert run.returncode == 1, _why(run)


def test_the_gate_keeps_float64_rows_exact_on_the_wire():
    """A float64 with 17 significant digits reaches the server as the same double."""
    value = 0.12345678901234568
    frame = pd.DataFrame({"a": [value, np.nan], "b": ["x", None]})
    records = json.loads(json.dumps(records_from_frame(frame, ["a", "b"])))
    assert records == [{"a": value, "b": "x"}, {"a": None, "b": None}]


def test_a_pipeline_that_scores_none_apart_from_nan_is_blocked_for_mlflow_serving(side_cases):
    """MLflow's pyfunc hands a JSON null to the model as None; a OneHotEncoder fit on NaN
    scores None as an unknown category, so `mlflow models serve` would answer those rows
    differently: blocked, the column and the fix named."""
    run, gates = side_cases["sklearn", "regression", "bare"]
    assert run.returncode == 1, _why(run)
    parity = gates["serving.mlflow_parity"]
    assert parity["outcome"] == "FAIL" and parity["details"]["missing_text_columns"] == ["region"]
    assert "X.where(X.notna(), np.nan)" in parity["reason"]
    assert gates["serving.parity"]["outcome"] == "PASS"  # mlcheck's own serving core is right
