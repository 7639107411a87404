import json

import pytest

from mlcheck.errors import DataError
from mlcheck.results import Comparison, GateResult, Outcome, SuiteResult


def _gate(outcome=Outcome.PASS, name="quality.auc"):
    return GateResult(name, outcome, "roc_auc", 0.912, 0.90, Comparison.GE, (0.905, 0.919))


def test_message_has_metric_value_interval_and_threshold():
    assert _gate().message == "quality.auc: roc_auc=0.9120 [0.9050, 0.9190] >= 0.9000 PASS"
    error = GateResult.error("drift.age", "column 'age' is missing; add it")
    assert error.message == "drift.age: -=n/a ERROR (column 'age' is missing; add it)"


def test_results_are_frozen():
    with pytest.raises(AttributeError):
        _gate().value = 1.0  # type: ignore[misc]


def test_json_round_trip():
    suite = SuiteResult.of([_gate(), GateResult.error("x", "why")], model="demo")
    back = SuiteResult.from_json(suite.to_json())
    assert back == suite
    data = json.loads(suite.to_json())
    assert data["version"] == 1 and data["verdict"] == "ERROR" and data["exit_code"] == 2


def test_unknown_version_is_refused():
    with pytest.raises(DataError, match="version=99"):
        SuiteResult.from_dict({"version": 99, "gates": []})


@pytest.mark.parametrize(
    ("outcomes", "verdict", "code"),
    [
        ([Outcome.PASS, Outcome.WARN], Outcome.PASS, 0),
        ([Outcome.PASS, Outcome.FAIL], Outcome.FAIL, 1),
        ([Outcome.FAIL, Outcome.ERROR], Outcome.ERROR, 2),
        ([], Outcome.ERROR, 2),
        ([Outcome.SKIP], Outcome.ERROR, 2),
        ([Outcome.PASS, Outcome.SKIP], Outcome.PASS, 0),
    ],
)
def test_verdict_and_exit_code(outcomes, verdict, code):
    suite = SuiteResult.of(_gate(o, f"g{i}") for i, o in enumerate(outcomes))
    assert suite.verdict is verdict and suite.exit_code == code


def test_nan_never_passes():
    assert not Comparison.GE.holds(float("nan"), 0.5)
    assert not Comparison.LE.holds(float("nan"), 0.5)


def test_the_policy_word_names_the_outcome_of_a_gate_that_does_not_hold():
    assert Outcome.when_not_held("fail") is Outcome.FAIL
    assert Outcome.when_not_held("warn") is Outcome.WARN
    with pytest.raises(KeyError):
        Outcome.when_not_held("pass")  # no word turns a gate that does not hold into a pass
