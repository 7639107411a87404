"""How often the default gates block clean data, and that they still block bad data.

For each scikit-learn data set, 100 seeded random 60/40 splits (reference / current) are
judged as the default policy judges them: `schema.inputs` against the schema inferred from the
reference, and the drift gates (per column + `drift.dataset`) under `DriftPolicy()`. A gate
that blocks clean data teaches users to ignore it; one that never blocks is no gate. So the
clean splits must almost never be blocked, and the same splits with a real shift or a broken
column almost always must.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from mlcheck.data.bank import BANK_FEATURES, generate
from mlcheck.gates.data_quality import data_quality_gates
from mlcheck.gates.drift import column_kinds, drift_gates, prediction_member, target_member
from mlcheck.gates.quality import metric_gates
from mlcheck.gates.schema import schema_gate
from mlcheck.policy import DataQualityPolicy, DriftPolicy, MetricThreshold, QualityPolicy
from mlcheck.results import Comparison, Outcome
from mlcheck.schema import infer_schema

SPLITS = 100
TARGET = "target"
LOADERS: dict[str, Callable[..., Any]] = {
    "breast_cancer": load_breast_cancer,  # 569 rows, 30 columns
    "wine": load_wine,  # 178 rows, 13 columns
    "diabetes": load_diabetes,  # 442 rows, 10 columns
}

pytestmark = pytest.mark.slow  # about 15 s in all (two cores shared with other tests)


@pytest.fixture(autouse=True, scope="module")
def _one_native_thread() -> Iterator[None]:
    """The budget's models predict a few hundred rows thousands of times: with OpenMP's
    threads, each predict waits at a barrier for a thread another process holds the core of
    (6 s alone, 15 s beside one busy core, 161 s in a full test run); one thread does not."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _frame(name: str) -> pd.DataFrame:
    frame: pd.DataFrame = LOADERS[name](as_frame=True).frame
    return frame


def _splits(
    frame: pd.DataFrame, count: int = SPLITS
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Seeded random 60/40 splits: (reference, current)."""
    cut = round(0.6 * len(frame))
    for seed in range(count):
        order = np.random.default_rng(seed).permutation(len(frame))
        yield frame.iloc[order[:cut]], frame.iloc[order[cut:]]


def _drift_blocks(reference: pd.DataFrame, current: pd.DataFrame) -> bool:
    kinds = column_kinds(None, reference, exclude=[TARGET])
    return any(g.outcome.blocks for g in drift_gates(reference, current, kinds, DriftPolicy()))


def _shifted(reference: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Every third input column moved up by one standard deviation of the reference."""
    columns = [c for c in reference.columns if c != TARGET][::3]
    out = current.copy()
    out[columns] = current[columns] + reference[columns].std()
    return out


@pytest.mark.parametrize("name", LOADERS)
def test_the_inferred_schema_passes_clean_splits(name: str) -> None:
    blocked = sum(
        schema_gate(current, infer_schema(reference, TARGET)).outcome.blocks
        for reference, current in _splits(_frame(name))
    )
    print(f"{name}: schema.inputs blocked {blocked}/{SPLITS} clean splits")
    assert blocked <= 1, f"{name}: the inferred schema blocked {blocked}/{SPLITS} clean splits"


@pytest.mark.parametrize("name", LOADERS)
def test_the_inferred_schema_still_blocks_broken_columns(name: str) -> None:
    """A missing column, text in a numeric column, a negative in a never-negative column."""
    for reference, current in _splits(_frame(name), 10):
        schema = infer_schema(reference, TARGET)
        first = str(reference.columns[0])
        never_negative = next(str(c) for c in reference.columns if reference[c].min() >= 0)
        negative = current.copy()
        negative.loc[negative.index[0], never_negative] = -1
        broken = {
            "column is missing": current.drop(columns=first),
            "numeric_dtype": current.assign(**{first: current[first].astype(str)}),
            "greater_than_or_equal_to(0.0)": negative,
        }
        for check, frame in broken.items():
            result = schema_gate(frame, schema)
            assert result.outcome is Outcome.FAIL, (name, check)
            assert check in {g["check"] for g in result.details["groups"]}, result.reason


@pytest.mark.parametrize("name", LOADERS)
def test_default_drift_policy_passes_clean_splits(name: str) -> None:
    blocked = sum(_drift_blocks(ref, cur) for ref, cur in _splits(_frame(name)))
    print(f"{name}: drift gates blocked {blocked}/{SPLITS} clean splits")
    assert blocked <= 5, f"{name}: the drift gates blocked {blocked}/{SPLITS} clean splits"


@pytest.mark.parametrize("name", LOADERS)
def test_default_drift_policy_blocks_a_shift_on_a_third_of_the_columns(name: str) -> None:
    blocked = sum(_drift_blocks(ref, _shifted(ref, cur)) for ref, cur in _splits(_frame(name)))
    print(f"{name}: drift gates blocked {blocked}/{SPLITS} shifted splits")
    assert blocked >= 95, f"{name}: the drift gates blocked only {blocked}/{SPLITS} shifts"


def test_default_drift_policy_passes_clean_demo_samples_with_categories() -> None:
    """Categories of two small samples get the two-sample chi-square: Evidently's
    goodness-of-fit form (reference shares taken as exact) blocked 21 of 30 such pairs."""
    kinds = column_kinds(BANK_FEATURES, None)
    pairs = 40
    blocked = sum(
        any(
            g.outcome.blocks
            for g in drift_gates(
                generate(800, 2 * seed + 100), generate(800, 2 * seed + 101), kinds, DriftPolicy()
            )
        )
        for seed in range(pairs)
    )
    print(f"demo (800 rows): drift gates blocked {blocked}/{pairs} clean pairs")
    assert blocked <= 0.10 * pairs  # room for chance: a calibrated 5% gives about 2/40


# --------------------------------------------------------------------------- the run's budget
#
# The whole run's error budget: a model trained on another split of the data, and every gate
# of the drift (one family: columns, prediction, target), schema, data quality and quality
# suites, as the suites call them. The quality minimums are set where each model meets them
# (its held-out accuracy 0.95 / 0.92, R2 0.40), so any block of a clean split is a false one.

BUDGET_QUALITY = {
    "breast_cancer": ("binary", {"accuracy": 0.85, "roc_auc": 0.90}),
    "wine": ("multiclass", {"accuracy": 0.75}),
    "diabetes": ("regression", {"r2": 0.15}),
}
#: The most informative input of each set (largest |Spearman| with the label).
INFORMATIVE = {"breast_cancer": "worst perimeter", "wine": "flavanoids", "diabetes": "s5"}


@pytest.fixture(scope="module")
def budget_models() -> dict[str, Any]:
    """Per data set: a HistGradientBoosting model fit on a seeded random half of its rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    models = {}
    for name, (task, _) in BUDGET_QUALITY.items():
        frame = _frame(name)
        half = np.random.default_rng(12345).permutation(len(frame))[: len(frame) // 2]
        learner = (
            HistGradientBoostingRegressor
            if task == "regression"
            else (HistGradientBoostingClassifier)
        )
        train = frame.iloc[half]
        models[name] = learner(random_state=0).fit(train.drop(columns=TARGET), train[TARGET])
    return models


def _scores(model: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    inputs = frame.drop(columns=TARGET)
    if task == "regression":
        return np.asarray(model.predict(inputs), dtype=float)
    probabilities = model.predict_proba(inputs)
    return probabilities[:, 1] if task == "binary" else probabilities


def _run_blocks(
    name: str,
    model: Any,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    outcome: Outcome | None = None,
) -> set:
    """The blocking gates (or those with `outcome`) of a run of the drift, schema, data
    quality and quality suites."""
    task, minimums = BUDGET_QUALITY[name]
    kinds = column_kinds(None, reference, exclude=[TARGET])
    scores = _scores(model, current, task)
    outputs = {
        "drift.prediction": prediction_member(_scores(model, reference, task), scores, task),
        "drift.target": target_member(reference, current, TARGET, task),
    }
    gates = drift_gates(reference, current, kinds, DriftPolicy(), outputs)
    gates.append(schema_gate(current, infer_schema(reference, TARGET)))
    gates += data_quality_gates(reference, current, DataQualityPolicy(), columns=list(kinds))
    rules = tuple(MetricThreshold(m, Comparison.GE, v) for m, v in minimums.items())
    quality = QualityPolicy(thresholds=rules)
    labels = current[TARGET].to_numpy()
    gates += metric_gates(labels, scores, quality, task, model_classes(model))
    return {g.name for g in gates if (g.outcome is outcome if outcome else g.outcome.blocks)}


def model_classes(model: Any) -> Any:
    return getattr(model, "classes_", None)


def _label_moved(current: pd.DataFrame, name: str, seed: int) -> pd.DataFrame:
    """The current rows with one class's share 15 points higher, without repeating a row:
    every row of the class kept, the others subsampled (class 1, or wine's class 0)."""
    cls = 0 if name == "wine" else 1
    mine, others = current[current[TARGET] == cls], current[current[TARGET] != cls]
    share = min(len(mine) / len(current) + 0.15, 0.99)
    keep = round(len(mine) * (1 - share) / share)
    rng = np.random.default_rng(seed)
    return pd.concat([mine, others.iloc[rng.permutation(len(others))[:keep]]])


def _moved_column(reference: pd.DataFrame, current: pd.DataFrame, name: str) -> pd.DataFrame:
    column = INFORMATIVE[name]
    return current.assign(**{column: current[column] + 0.5 * reference[column].std(ddof=0)})


@pytest.mark.parametrize("name", BUDGET_QUALITY)
def test_a_run_blocks_clean_data_at_most_5_times_in_100(name, budget_models):
    blocked: dict[str, int] = {}
    runs = 0
    for reference, current in _splits(_frame(name)):
        names = _run_blocks(name, budget_models[name], reference, current)
        runs += bool(names)
        for gate in names:
            blocked[gate] = blocked.get(gate, 0) + 1
    print(f"{name}: the run blocked {runs}/{SPLITS} clean splits; by gate: {blocked}")
    assert runs <= 5, f"{name}: {runs}/{SPLITS} clean splits blocked: {blocked}"


#: Runs out of 100 in which a gate must FAIL on each shift (seeded: the counts are exact; these
#: floors sit a little under the measured 100, 97, 28, 73 and 21). 95 where the sample can show
#: the shift. Wine's 71 current rows cannot: KS needs about 0.83 sd for 95% power at its
#: family's level (its gates WARN "too few rows"); a 15-point share move is about 3.5 standard
#: errors on breast cancer's ~183 moved rows, under a 32-member family's first level.
SHIFT_CAUGHT = {
    ("breast_cancer", "column"): 95,
    ("diabetes", "column"): 95,
    ("wine", "column"): 20,
    ("breast_cancer", "labels"): 65,
    ("wine", "labels"): 15,
}


@pytest.mark.parametrize(("name", "shift"), list(SHIFT_CAUGHT))
def test_a_run_blocks_a_shift_that_matters(name, shift, budget_models):
    caught = 0
    by_gate: dict[str, int] = {}
    for seed, (reference, current) in enumerate(_splits(_frame(name))):
        moved = (
            _moved_column(reference, current, name)
            if shift == "column"
            else _label_moved(current, name, seed)
        )
        # caught: a gate FAILs (an ERROR, such as too few rows for quality, is no detection)
        names = _run_blocks(name, budget_models[name], reference, moved, Outcome.FAIL)
        caught += bool(names)
        for gate in names:
            by_gate[gate] = by_gate.get(gate, 0) + 1
    top = sorted(by_gate.items(), key=lambda item: -item[1])[:6]
    print(f"{name}: the run blocked {caught}/{SPLITS} splits with the {shift} shift; by {top}")
    assert caught >= SHIFT_CAUGHT[name, shift], f"{name}: {shift}: {caught}/{SPLITS}"


def _oracle_catches(name: str, shift: str) -> int:
    """Splits on which the most powerful single test, told which column moved (or which class)
    and in which direction and given the run's whole 5% alone, finds the shift: a one-sided
    Welch t-test on the moved column, or a one-sided two-proportion z-test on the class."""
    caught = 0
    for seed, (reference, current) in enumerate(_splits(_frame(name))):
        if shift == "column":
            column = INFORMATIVE[name]
            moved = _moved_column(reference, current, name)[column]
            p = stats.ttest_ind(reference[column], moved, equal_var=False, alternative="less")
            caught += bool(p.pvalue < 0.05)
            continue
        moved = _label_moved(current, name, seed)
        cls = 0 if name == "wine" else 1
        a, b = (reference[TARGET] == cls).mean(), (moved[TARGET] == cls).mean()
        pooled = ((reference[TARGET] == cls).sum() + (moved[TARGET] == cls).sum()) / (
            len(reference) + len(moved)
        )
        z = (b - a) / np.sqrt(pooled * (1 - pooled) * (1 / len(reference) + 1 / len(moved)))
        caught += bool(stats.norm.sf(z) < 0.05)
    return caught


@pytest.mark.parametrize(
    ("name", "shift", "most"),
    [("wine", "column", 94), ("wine", "labels", 60), ("breast_cancer", "labels", 95)],
)
def test_the_shifts_below_95_are_beyond_any_test_of_these_samples(name, shift, most):
    """Why three detection floors above sit under 95: no test can reach it on these samples.
    Measured: wine's moved column 92, wine's class share 52, breast cancer's class share 95 of
    100, each with the run's whole budget spent on the one test that knows the answer's form;
    a run must also keep the rest of its columns, the prediction and the quality gates."""
    caught = _oracle_catches(name, shift)
    print(f"{name}: the oracle test finds the {shift} shift in {caught}/{SPLITS} splits")
    assert caught <= most, f"{name}: {shift}: {caught}/{SPLITS}: the floor can be raised"
