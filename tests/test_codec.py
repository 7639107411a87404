import json

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlcheck.data.bank import BANK_FEATURES
from mlcheck.serving.codec import (
    RequestError,
    _columns_in_bulk,
    _columns_one_by_one,
    _parse,
    decode_request,
)

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


# Values a column may hold: fitting ones, and each kind of misfit the one-by-one check names.
_ODD_VALUES = st.sampled_from(
    [None, True, "x", "management", 1.5, -1, 0, 2**63, 10**38, 3.5e38, float("nan"), [], {}]
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(1, 5),
    changes=st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(sorted(RECORD)), _ODD_VALUES), max_size=3
    ),
    drop=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(sorted(RECORD))), max_size=1),
    extra=st.booleans(),
)
def test_the_bulk_check_accepts_exactly_what_the_one_by_one_check_accepts(
    rows, changes, drop, extra
):
    """A batch checked a column at a time gives the same columns as checking every value on
    its own, and is refused whenever that check finds a problem (which then names it)."""
    records = [dict(RECORD) for _ in range(rows)]
    for row, field, value in changes:
        records[row % rows][field] = value
    for row, field in drop:
        records[row % rows].pop(field, None)
    if extra:
        records[-1]["surprise"] = 1
    try:
        exact = _columns_one_by_one(records, BANK_FEATURES)
    except RequestError:
        exact = None
    assert _columns_in_bulk(records, BANK_FEATURES) in (exact, None)
    if exact is None:
        with pytest.raises(RequestError):
            decode_request(json.dumps({"instances": records}).encode(), BANK_FEATURES, 10)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**39), 10**39)  # longer runs are refused before parsing
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES, st.booleans())
def test_the_fast_parser_reads_what_pythons_reads(value, ascii_only):
    """Bodies are parsed by msgspec where it can: it must give exactly json.loads' value."""
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert msgspec.json.decode(body) == json.loads(body)
    assert _parse(body) == json.loads(body)


def test_what_the_fast_parser_refuses_pythons_parser_reads_or_names():
    assert _parse(b"1e400") == float("inf")  # then refused by the value check
    assert _parse(b'"\\ud800"') == "\ud800"
    with pytest.raises(RequestError, match="not valid JSON"):
        _parse(b'{"age": }')
