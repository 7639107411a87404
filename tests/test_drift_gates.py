"""Drift gates on the named scenarios, the null calibration, and never a crash on bad data."""

import numpy as np
import pandas as pd
import pytest

from mlcheck.data.bank import BANK_FEATURES, generate
from mlcheck.data.scenarios import apply_scenario
from mlcheck.errors import DataError
from mlcheck.gates.drift import (
    column_kinds,
    drift_gates,
    prediction_member,
    target_member,
)
from mlcheck.gates.quality import metric_gates
from mlcheck.models.load import load_model
from mlcheck.policy import ColumnDriftRule, DriftPolicy, QualityPolicy, load_policy
from mlcheck.results import Outcome
from tests.conftest import ROOT

KINDS = column_kinds(BANK_FEATURES, None)
POLICY = load_policy(ROOT / "checks" / "gates.toml")


@pytest.fixture(scope="module")
def frames():
    return generate(20_000, 1), generate(20_000, 2)


@pytest.fixture(scope="module")
def model(small_model_dir):
    return load_model(str(small_model_dir))


def _blocked(reference, current, model):
    ref_scores = model.predict(reference.drop(columns="y"))
    outputs = {
        "drift.prediction": prediction_member(ref_scores, model.predict(current.drop(columns="y"))),
        "drift.target": target_member(reference, current, "y"),
    }
    gates = drift_gates(reference, current, KINDS, POLICY.drift, outputs)
    return {g.name: g for g in gates if not g.passed}


def test_a_clean_sample_passes_every_drift_gate(frames, model):
    assert _blocked(*frames, model) == {}


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("covariate_shift", {"drift.age", "drift.duration", "drift.prediction"}),
        ("gradual_drift", {"drift.duration", "drift.campaign"}),
        ("sudden_shift", {"drift.duration", "drift.contact"}),
        ("category_frequency_shift", {"drift.job"}),
        ("prior_shift", {"drift.target", "drift.prediction"}),
    ],
)
def test_each_drift_scenario_is_blocked_by_its_gate(frames, model, scenario, expected):
    reference, current = frames
    blocked = _blocked(reference, apply_scenario(current, scenario, 1.0), model)
    assert expected <= set(blocked), sorted(blocked)
    for name in expected:
        gate = blocked[name]
        column = name.removeprefix("drift.")
        assert gate.outcome is Outcome.FAIL and gate.value is not None
        assert gate.message.startswith(f"{name}: {gate.metric}=")
        assert (
            f" {gate.threshold:.4f} FAIL" in gate.message or f"{gate.threshold:g}" in gate.message
        )
        subject = {"target": "the labels", "prediction": "the model's outputs"}
        assert subject.get(column, repr(column)) in gate.reason


def test_concept_drift_is_caught_by_quality_not_by_input_drift(frames, model):
    reference, current = frames
    drifted = apply_scenario(current, "concept_drift", 1.0)
    blocked = _blocked(reference, drifted, model)
    assert not any(name.removeprefix("drift.") in KINDS for name in blocked)
    labels, scores = drifted["y"].to_numpy(), model.predict(drifted.drop(columns=["y"]))
    quality = {g.name: g for g in metric_gates(labels, scores, QualityPolicy())}
    assert quality["quality.accuracy"].outcome is Outcome.FAIL


def test_psi_override_fails_and_warns_at_its_own_levels(frames):
    reference, current = frames
    rule = POLICY.drift.columns["age"]
    assert (rule.method, rule.threshold, rule.warn) == ("psi", 0.3, 0.2)
    older = current.assign(age=(current["age"] + 8).clip(18, 95))
    gate = drift_gates(reference, older, {"age": "numeric"}, POLICY.drift)[0]
    assert (gate.metric, gate.outcome, gate.threshold) == ("psi", Outcome.FAIL, 0.3)
    soft = DriftPolicy(columns={"age": ColumnDriftRule("psi", 0.3, warn=0.1)})
    a_little_older = current.assign(age=(current["age"] + 4).clip(18, 95))
    gate = drift_gates(reference, a_little_older, {"age": "numeric"}, soft)[0]
    assert gate.outcome is Outcome.WARN and 0.1 <= gate.value < 0.3 and gate.passed


def test_dataset_drift_is_calibrated_under_the_null():
    """50 seeded null resamples: the dataset gate raises at most alpha = 5% of the time."""
    raised = 0
    reference = generate(1000, 1)
    for seed in range(50):
        current = generate(1000, 1000 + seed)
        gates = drift_gates(reference, current, KINDS, DriftPolicy())
        dataset = gates[-1]
        assert dataset.name == "drift.dataset"
        raised += dataset.outcome is Outcome.FAIL
    assert raised / 50 <= 0.05


def test_fdr_is_the_default_and_gates_show_the_adjusted_p_value():
    """Small samples: the verdict and the value shown are the BH-adjusted p; the raw one stays."""
    assert DriftPolicy().fdr and POLICY.drift.fdr
    reference, current = generate(800, 1), generate(800, 2)
    current = current.assign(duration=current["duration"] * 1.3)
    adjusted = {g.name: g for g in drift_gates(reference, current, KINDS, DriftPolicy())[:-1]}
    raw = {g.name: g for g in drift_gates(reference, current, KINDS, DriftPolicy(fdr=False))}
    for name, gate in adjusted.items():  # every column takes a p-value test at 800 rows
        assert gate.metric == f"{raw[name].metric} (BH)"
        assert gate.details["p_value"] == raw[name].value <= gate.value + 1e-12
        assert gate.passed == gate.comparison.holds(gate.value, gate.threshold)
    assert adjusted["drift.duration"].outcome is Outcome.FAIL
    assert "Benjamini-Hochberg adjusted p" in adjusted["drift.duration"].reason


def test_missing_column_wrong_type_or_empty_file_never_crash(frames):
    reference, current = frames
    broken = apply_scenario(current, "schema_break", 1.0)
    gates = {g.name: g for g in drift_gates(reference, broken, KINDS, POLICY.drift)}
    assert gates["drift.duration"].outcome is Outcome.ERROR
    assert "'duration' is missing from the current data" in gates["drift.duration"].reason
    assert (
        gates["drift.age"].outcome is Outcome.ERROR
        and "should be numeric" in gates["drift.age"].reason
    )
    assert gates["drift.dataset"].outcome is Outcome.ERROR
    assert gates["drift.job"].outcome is Outcome.FAIL
    with pytest.raises(DataError, match="needs rows"):
        drift_gates(reference, current.iloc[:0], KINDS, POLICY.drift)
    empty_column = current.assign(age=np.nan)
    gates = {g.name: g for g in drift_gates(reference, empty_column, KINDS, POLICY.drift)}
    assert gates["drift.age"].outcome is Outcome.ERROR and "no values" in gates["drift.age"].reason


def test_target_drift_has_no_member_without_labels(frames):
    reference, current = frames
    assert target_member(reference, current.drop(columns="y"), "y") is None


def test_kinds_come_from_the_model_or_the_reference():
    assert KINDS["age"] == "numeric" and KINDS["job"] == "categorical"
    inferred = column_kinds(None, pd.DataFrame({"a": [1.0], "b": ["x"], "y": [1]}), exclude=["y"])
    assert inferred == {"a": "numeric", "b": "categorical"}


# --------------------------------------------------------------------------- one family


def _normal(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.standard_normal(rows) + shift, "b": rng.standard_normal(rows)})


def test_the_prediction_and_the_target_are_adjusted_with_the_columns():
    reference, current = _normal(600, 1), _normal(400, 2)
    scores = (np.random.default_rng(3).random(600), np.random.default_rng(4).random(400))
    labels = pd.DataFrame({"y": np.arange(600) % 2}), pd.DataFrame({"y": np.arange(400) % 2})
    outputs = {
        "drift.prediction": prediction_member(*scores),
        "drift.target": target_member(*labels, "y"),
    }
    kinds = {"a": "numeric", "b": "numeric"}
    gates = {g.name: g for g in drift_gates(reference, current, kinds, DriftPolicy(), outputs)}
    assert list(gates) == [
        "drift.a",
        "drift.b",
        "drift.dataset",
        "drift.prediction",
        "drift.target",
    ]
    family = gates["drift.dataset"].details["family"]
    assert family["size"] == 4 and family["method"] == "benjamini-hochberg"
    assert set(family["adjusted_p"]) == {"drift.a", "drift.b", "drift.prediction", "drift.target"}
    for name in ("drift.prediction", "drift.target"):
        assert gates[name].details["family"]["size"] == 4
        assert gates[name].metric.endswith("(BH)") and gates[name].outcome is Outcome.PASS
    alone = drift_gates(reference, current, kinds, DriftPolicy(fdr=False), outputs)
    assert all("family" not in g.details for g in alone if g.name != "drift.dataset")


def test_a_small_shift_in_a_large_sample_is_not_drift_but_a_large_one_is():
    """1,000 reference rows keep the p-value tests; 200,000 current rows make them reject
    shifts too small to matter, which the effect floors do not count as drift."""
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"c": rng.choice(["x", "y"], 1000)})

    def moved(share: float) -> pd.DataFrame:
        return pd.DataFrame({"c": rng.choice(["x", "y"], 200_000, p=[share, 1 - share])})

    kinds = {"c": "categorical"}
    small = drift_gates(reference, moved(0.5 + 0.06), kinds, DriftPolicy())[0]
    assert small.details["p_value"] < 0.05 and small.outcome is Outcome.PASS
    effect = small.details["effect"]
    assert effect["method"] == "jensenshannon" and effect["value"] < effect["floor"] == 0.05
    large = drift_gates(reference, moved(0.5 + 0.2), kinds, DriftPolicy())[0]
    assert large.outcome is Outcome.FAIL and "jensenshannon" in large.reason
    # numeric: a 0.15 sd shift is found by KS; a floor of 0.2 sd lets it through
    numeric, shifted = _normal(1000, 5), _normal(200_000, 6, shift=0.15)
    floor = DriftPolicy(min_wasserstein=0.2)
    gate = drift_gates(numeric, shifted, {"a": "numeric"}, floor)[0]
    assert gate.details["p_value"] < 0.05 and gate.outcome is Outcome.PASS
    assert drift_gates(numeric, shifted, {"a": "numeric"}, DriftPolicy())[0].outcome is (
        Outcome.FAIL
    )


def test_a_sample_too_small_to_find_half_a_standard_deviation_says_so():
    kinds = {"a": "numeric"}
    small = drift_gates(_normal(40, 7), _normal(30, 8), kinds, DriftPolicy())[0]
    assert small.outcome is Outcome.WARN and small.reason.startswith("too few rows (40 reference")
    power = small.details["power"]
    assert power["unit"] == "sd" and power["detectable"] > power["target"] == 0.5
    enough = drift_gates(_normal(600, 7), _normal(400, 8), kinds, DriftPolicy())[0]
    assert enough.outcome is Outcome.PASS and enough.details["power"]["detectable"] < 0.5


def test_a_tiny_shift_of_every_column_at_a_million_rows_is_not_drift():
    rng = np.random.default_rng(9)
    columns = ("a", "b", "c")
    reference = pd.DataFrame({c: rng.standard_normal(1_000_000) for c in columns})
    current = pd.DataFrame({c: rng.standard_normal(1_000_000) + 0.02 for c in columns})
    gates = drift_gates(reference, current, dict.fromkeys(columns, "numeric"), DriftPolicy())
    assert [g.outcome for g in gates] == [Outcome.PASS] * 4
    assert all(g.metric == "wasserstein" for g in gates[:3])
