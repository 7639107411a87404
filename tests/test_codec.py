import json

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
