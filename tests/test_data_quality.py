import numpy as np
import pandas as pd
import pytest

from mlcheck.data.bank import generate
from mlcheck.data.scenario_names import SCENARIO_NAMES
from mlcheck.data.scenarios import SCENARIOS, apply_scenario
from mlcheck.errors import ConfigError
from mlcheck.gates.data_quality import data_quality_gates
from mlcheck.policy import DataQualityPolicy

INPUTS = [c for c in generate(10, 0).columns if c != "y"]


@pytest.fixture(scope="module")
def frames():
    return generate(10_000, 1), generate(10_000, 2)


DEMO = DataQualityPolicy()


def _blocked(reference, current, policy=DEMO):
    gates = data_quality_gates(reference, current, policy, columns=INPUTS)
    return {g.name: g for g in gates if not g.passed}


def test_a_clean_sample_passes(frames):
    assert _blocked(*frames) == {}


def test_missing_values_are_caught_per_column(frames):
    reference, current = frames
    blocked = _blocked(reference, apply_scenario(current, "missing_values", 1.0))
    gate = blocked["data_quality.missing"]
    assert gate.value == pytest.approx(0.15, abs=0.02) and gate.threshold == 0.05
    assert {"age", "balance", "job"} <= set(
        k for k, v in gate.details["per_column"].items() if v > 0.05
    )
    assert "job" in gate.reason and "age" in gate.reason


def test_outliers_duplicates_constants_and_new_categories(frames):
    reference, current = frames
    current = current.astype({"job": str})
    current.loc[: len(current) // 5, "balance"] = 10**6
    current.loc[:, "loan"] = "no"
    current.loc[:99, "job"] = "astronaut"
    current = pd.concat([current, current.iloc[:1000]], ignore_index=True)
    blocked = _blocked(reference, current)
    assert blocked["data_quality.outliers"].reason.startswith("values outside")
    assert "balance" in blocked["data_quality.outliers"].reason
    assert blocked["data_quality.duplicates"].value > 0.05
    assert blocked["data_quality.constant"].details["columns"] == ["loan"]
    assert blocked["data_quality.new_categories"].details["new"] == {"job": ["astronaut"]}
    relaxed = DataQualityPolicy(allow_new_categories=True, allow_constant_columns=True)
    assert {"data_quality.constant", "data_quality.new_categories"}.isdisjoint(
        _blocked(reference, current, relaxed)
    )


def test_scenarios_are_seeded_and_documented(frames):
    _, current = frames
    for name, scenario in SCENARIOS.items():
        assert scenario.changes and scenario.caught_by
        first = apply_scenario(current, name, 1.0, seed=3)
        assert first.equals(apply_scenario(current, name, 1.0, seed=3)), name
        assert apply_scenario(current, name, 0.0).equals(current)
    with pytest.raises(ConfigError, match="scenario='nope' is unknown"):
        apply_scenario(current, "nope")
    with pytest.raises(ConfigError, match="strength=-1 is out of range"):
        apply_scenario(current, "covariate_shift", -1)


def test_the_command_lines_scenario_names_are_the_scenarios():
    """`mlcheck data --scenario` offers the names from a module without pandas: the same, in
    the same order."""
    assert tuple(SCENARIOS) == SCENARIO_NAMES


def test_prior_shift_changes_the_label_share(frames):
    _, current = frames
    shifted = apply_scenario(current, "prior_shift", 1.0)
    assert shifted["y"].mean() == pytest.approx(current["y"].mean() + 0.25, abs=0.01)
    assert len(shifted) == len(current)


def test_a_rate_over_the_limit_by_chance_warns_and_one_beyond_chance_blocks():
    """8 of 71 values outside a 107-row reference's range (11%, limit 10%) is within chance
    of the limit: WARN with the counts; 30 of 71 (42%) is not: FAIL."""
    import numpy as np

    reference = pd.DataFrame({"a": np.linspace(0.0, 1.0, 107), "b": np.linspace(0.0, 1.0, 107)})
    inside = np.linspace(0.1, 0.9, 71)
    few = pd.DataFrame({"a": np.where(np.arange(71) < 8, 2.0, inside), "b": inside})
    gate = {g.name: g for g in data_quality_gates(reference, few, DEMO)}["data_quality.outliers"]
    assert gate.outcome.value == "WARN" and gate.value == pytest.approx(8 / 71)
    assert "within chance" in gate.reason and "8 of 71 rows" in gate.reason
    assert gate.details["lower_bounds"]["a"] < 0.10
    many = few.assign(a=np.where(np.arange(71) < 30, 2.0, inside))
    gate = {g.name: g for g in data_quality_gates(reference, many, DEMO)}["data_quality.outliers"]
    assert gate.outcome.value == "FAIL" and gate.reason.startswith("values outside")
    assert gate.details["lower_bounds"]["a"] > 0.10


@pytest.mark.parametrize("dtype", [object, "category"])
def test_unseen_categories_are_counted_as_row_by_row_text_would(dtype):
    """Distinct values are compared as text once each; the answer is that of comparing every
    row's text (what the gate did before), for text, numbers held as objects and missing."""
    from mlcheck.gates.data_quality import _unseen

    rng = np.random.default_rng(3)
    pool = np.array(["a", "b", "c", "d", "e", 1, "1", 2.5, None], dtype=object)
    reference = pd.Series(rng.choice(pool[:4], 500), dtype=dtype)
    current = pd.Series(rng.choice(pool, 2_000), dtype=dtype)
    labels = current.dropna().astype(str)
    unseen = ~labels.isin(set(reference.dropna().astype(str).unique()))
    expected = (sorted(labels[unseen].unique().tolist())[:10], int(unseen.sum()))
    assert _unseen(reference, current) == expected
    assert expected[1] > 0 and "1" in expected[0]
    assert _unseen(reference, reference) == ([], 0)
