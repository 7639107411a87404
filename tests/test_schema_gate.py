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
