import pandas as pd
import pandera.pandas as pa
import pytest

from mlcheck.data.bank import BANK_FEATURES, generate
from mlcheck.data.scenarios import apply_scenario
from mlcheck.errors import ConfigError
from mlcheck.gates.schema import schema_gate
from mlcheck.results import Outcome
from mlcheck.schema import features_from_schema, infer_schema, load_schema, save_schema
from tests.conftest import ROOT

SCHEMA_FILE = ROOT / "checks" / "schema.py"


@pytest.fixture(scope="module")
def schema():
    return load_schema(SCHEMA_FILE)


def test_demo_data_passes_the_demo_schema(schema):
    assert schema_gate(generate(5000, 2), schema).outcome is Outcome.PASS


def test_schema_break_reports_every_problem_grouped(schema):
    broken = apply_scenario(generate(5000, 2), "schema_break", 1.0, seed=0)
    result = schema_gate(broken, schema)
    assert result.outcome is Outcome.FAIL
    groups = {(g["column"], g["check"]): g for g in result.details["groups"]}
    assert ("duration", "column is missing") in groups
    assert groups[("age", "numeric_dtype")]["examples"][0] == "dtype object"
    job = groups[("job", "not an allowed category")]
    assert job["count"] == (broken["job"] == "astronaut").sum() and job["examples"] == ["astronaut"]
    assert result.reason.startswith("duration: column is missing; age: not numeric (dtype object")


def test_values_out_of_range_are_counted_with_examples(schema):
    frame = generate(1000, 2)
    frame.loc[:9, "age"] = 150
    result = schema_gate(frame, schema)
    group = result.details["groups"][0]
    assert (group["column"], group["count"], group["examples"]) == ("age", 10, ["150"])
    assert group["rows"] == [0, 1, 2, 3, 4]


def test_inferred_schema_accepts_a_fresh_sample_and_round_trips_yaml(tmp_path):
    reference = generate(5000, 1)
    schema = infer_schema(reference, target="y")
    assert schema_gate(generate(5000, 7), schema).outcome is Outcome.PASS
    path = save_schema(schema, tmp_path / "schema.yaml")
    again = load_schema(path)
    assert set(again.columns) == set(schema.columns)
    assert schema_gate(generate(20, 8).assign(job="astronaut"), again).outcome is Outcome.FAIL


def test_inferred_schema_keeps_types_signs_and_categories_not_the_samples_range():
    """What a sample tells for sure still blocks; its min and max do not (the outlier gate's)."""
    schema = infer_schema(generate(5000, 1), target="y")
    broken = apply_scenario(generate(5000, 2), "schema_break", 1.0, seed=0)
    groups = {(g["column"], g["check"]) for g in schema_gate(broken, schema).details["groups"]}
    assert {
        ("duration", "column is missing"),
        ("age", "numeric_dtype"),
        ("job", "not an allowed category"),
    } <= groups
    current = generate(1000, 3).astype({"duration": float, "campaign": float})
    current.loc[:4, "duration"] = -5.0  # never negative in the reference
    current.loc[5:9, "campaign"] = 2.5  # always a whole number there
    current.loc[10, "pdays"] = -7  # the reference has -1: a signed column
    current.loc[11, "age"] = 500  # far past the reference's maximum
    result = schema_gate(current, schema)
    counts = {(g["column"], g["check"]): g["count"] for g in result.details["groups"]}
    assert counts == {
        ("duration", "greater_than_or_equal_to(0.0)"): 5,
        ("campaign", "whole_numbers"): 5,
    }
    features = {f.name: f for f in features_from_schema(schema, BANK_FEATURES)}
    assert (features["duration"].minimum, features["duration"].maximum) == (0.0, None)
    assert (features["pdays"].minimum, features["balance"].maximum) == (None, None)


def test_inferred_label_is_0_1_when_the_reference_is_and_as_seen_otherwise():
    three_classes = pd.DataFrame({"x": [1.0, -2.0, 3.0], "label": [0, 2, 1]})
    schema = infer_schema(three_classes, "label")
    assert schema_gate(three_classes, schema).outcome is Outcome.PASS  # its own reference
    missing = three_classes.assign(label=[0.0, None, 1.0])
    assert schema_gate(missing, schema).outcome is Outcome.FAIL  # a label is never null
    binary = infer_schema(three_classes.assign(label=[0, 1, 1]), "label")
    assert schema_gate(three_classes, binary).outcome is Outcome.FAIL


def test_schema_files_that_cannot_be_used(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_schema(tmp_path / "nope.py")
    (tmp_path / "no_schema.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match="must define SCHEMA"):
        load_schema(tmp_path / "no_schema.py")
    (tmp_path / "broken.py").write_text("import nothing_here\n")
    with pytest.raises(ConfigError, match="failed to import: ModuleNotFoundError"):
        load_schema(tmp_path / "broken.py")


def test_serving_features_take_ranges_and_nullability_from_the_schema(schema):
    features = {f.name: f for f in features_from_schema(schema, BANK_FEATURES)}
    assert (features["age"].minimum, features["age"].maximum) == (18, 100)
    assert features["age"].nullable and features["job"].categories[0] == "admin."


def test_the_schema_gate_never_crashes_on_odd_frames(schema):
    assert schema_gate(pd.DataFrame(), schema).outcome is Outcome.FAIL
    one_column = pd.DataFrame({"age": ["x"]})
    assert schema_gate(one_column, schema).outcome is Outcome.FAIL
    strict = pa.DataFrameSchema({"a": pa.Column(int)})
    assert schema_gate(pd.DataFrame({"a": [1.5]}), strict).outcome is Outcome.FAIL
