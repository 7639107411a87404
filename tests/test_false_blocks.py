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
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from mlcheck.data.bank import BANK_FEATURES, generate
from mlcheck.gates.drift import column_kinds, drift_gates
from mlcheck.gates.schema import schema_gate
from mlcheck.policy import DriftPolicy
from mlcheck.results import Outcome
from mlcheck.schema import infer_schema

SPLITS = 100
TARGET = "target"
LOADERS: dict[str, Callable[..., Any]] = {
    "breast_cancer": load_breast_cancer,  # 569 rows, 30 columns
    "wine": load_wine,  # 178 rows, 13 columns
    "diabetes": load_diabetes,  # 442 rows, 10 columns
}

pytestmark = pytest.mark.slow  # about 15 s in all (two cores shared with other tests)


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
