import json

import numpy as np
import pytest

from mlcheck.data.bank import BANK_FEATURES
from mlcheck.serving.codec import RequestError, decode_request

RECORD = {
    "age": 36,
    "job": "management",
    "marital": "single",
    "education": "tertiary",
    "default": "no",
    "balance": 5195,
    "housing": "yes",
    "loan": "no",
    "contact": "cellular",
    "duration": 224,
    "campaign": 2,
    "pdays": -1,
    "previous": 0,
    "poutcome": "unknown",
}


def _decode(payload, max_rows=10):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_request(body, BANK_FEATURES, max_rows)


def test_one_record_and_a_batch():
    assert _decode(RECORD)["age"] == [36]
    assert _decode({"instances": [RECORD, dict(RECORD, age=50)]})["age"] == [36, 50]


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"age": "36"}, "age", "must be a number"),
        ({"age": 36.5}, "age", "must be an integer"),
        ({"age": True}, "age", "must be a number"),
        ({"age": None}, "age", "must not be null"),
        ({"job": "astronaut"}, "job", "unknown category 'astronaut'"),
        ({"job": 3}, "job", "must be a string"),
        ({"colour": "red"}, "colour", "is not a feature"),
    ],
)
def test_bad_fields_are_named(change, field, text):
    with pytest.raises(RequestError) as caught:
        _decode(dict(RECORD, **change))
    assert caught.value.status == 422
    assert [(p["field"], text in p["error"]) for p in caught.value.problems] == [(field, True)]


def test_every_problem_is_reported_at_once():
    bad = dict(RECORD, age="x", job="astronaut")
    del bad["loan"]
    with pytest.raises(RequestError) as caught:
        _decode({"instances": [RECORD, bad]})
    assert {(p["row"], p["field"]) for p in caught.value.problems} == {
        (1, "age"),
        (1, "job"),
        (1, "loan"),
    }


def test_limits_and_malformed_bodies():
    with pytest.raises(RequestError) as caught:
        _decode({"instances": [RECORD] * 11})
    assert caught.value.status == 413
    with pytest.raises(RequestError) as caught:
        _decode(b"{not json")
    assert caught.value.status == 400
    for payload in ([RECORD], {"instances": []}, {"instances": [RECORD], "extra": 1}):
        with pytest.raises(RequestError) as caught:
            _decode(payload)
        assert caught.value.status == 422


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        _nested(10_000),
        '{"instances": ' + _nested(10_000) + "}",
        '{"age": ' + _nested(10_000) + ', "job": "management"}',
        '{"a": ' * 10_000 + "1" + "}" * 10_000,
        '{"job": "[[[", "age": ' + _nested(40) + "}",  # brackets in strings do not hide depth
        '{"job": "\\"]]]\\\\", "age": ' + _nested(40) + "}",  # nor escaped quotes
    ],
)
def test_deeply_nested_bodies_are_refused_before_parsing(body):
    with pytest.raises(RequestError) as caught:
        _decode(body.encode())
    assert caught.value.status == 400 and caught.value.reason == "too_deep"
    [problem] = caught.value.problems
    assert problem["field"] == "body" and "levels deep; the limit is 32" in problem["error"]


def test_the_depth_limit_is_32_levels_and_brackets_in_strings_do_not_count():
    at_limit = '{"age": ' + _nested(31) + "}"  # the record is level 1, the value's lists 2..32
    with pytest.raises(RequestError) as caught:
        _decode(at_limit.encode())
    assert caught.value.status == 422  # parsed, then refused as a value: not a number
    over = '{"age": ' + _nested(32) + "}"
    with pytest.raises(RequestError) as caught:
        _decode(over.encode())
    assert caught.value.status == 400
    quoted = dict(RECORD, job="[" * 100 + '\\"{' * 50)
    with pytest.raises(RequestError) as caught:
        _decode(quoted)
    assert caught.value.status == 422 and caught.value.problems[0]["field"] == "job"


@pytest.mark.parametrize(("field", "digits"), [("balance", 4000), ("age", 10_000), ("age", 41)])
def test_numbers_with_too_many_digits_are_refused_with_the_field_and_the_limit(field, digits):
    body = json.dumps(dict(RECORD, **{field: 0})).replace(
        f'"{field}": 0', f'"{field}": ' + "7" * digits
    )
    with pytest.raises(RequestError) as caught:
        _decode(body.encode())
    assert caught.value.status == 422 and caught.value.reason == "invalid"
    [problem] = caught.value.problems
    assert problem["field"] == field
    assert f"has {digits} digits (777777777777...); the limit is 40" == problem["error"]
    assert len(problem["error"]) < 120 and "sys." not in problem["error"]


def test_long_digit_runs_inside_strings_are_not_numbers():
    with pytest.raises(RequestError) as caught:
        _decode(dict(RECORD, job="9" * 5000))
    [problem] = caught.value.problems
    assert problem["field"] == "job" and problem["error"].startswith("unknown category '99999")
    assert len(problem["error"]) < 300  # the value is shortened


@pytest.mark.parametrize("value", [1e308, -1e308, 3.5e38, 10**39, -(10**39), int("9" * 39)])
def test_values_beyond_float32_are_refused(value):
    with pytest.raises(RequestError) as caught:
        _decode(dict(RECORD, age=value))
    [problem] = caught.value.problems
    assert caught.value.status == 422 and problem["field"] == "age"
    assert "must be within float32's range" in problem["error"]


def test_the_float32_limits_themselves_are_accepted():
    from mlcheck.features import FeatureKind, FeatureSpec

    top = float(np.finfo(np.float32).max)
    spec = (FeatureSpec("x", FeatureKind.NUMERIC),)
    assert decode_request(json.dumps({"x": top}).encode(), spec, 1) == {"x": [top]}
    assert decode_request(json.dumps({"x": -top}).encode(), spec, 1) == {"x": [-top]}
