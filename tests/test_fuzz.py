"""Schemathesis fuzzes the serving core, in process, through its own `/openapi.json`.

Every operation the document describes gets generated requests (`/predict` the most, with
valid and invalid bodies); every response must be documented: no 5xx, a documented status
code, a documented content type and a body that matches the documented schema.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from mlcheck.models.load import load_model
from mlcheck.serving.app import create_app
from mlcheck.serving.codec import FLOAT32_MAX
from mlcheck.serving.config import ServingConfig

MAX_ROWS = 20
#: Generated cases per (operation, mode); operations without parameters have a single case.
PREDICT_EXAMPLES = 520
OTHER_EXAMPLES = 10
MIN_CASES = 1000
#: How the serving core refuses a body that breaks the schema (each status is documented).
REFUSED = {400, 413, 422}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
_SUPPRESSED = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]


@pytest.fixture(scope="module")
def app(small_model_dir):
    model = str(small_model_dir)
    return create_app(load_model(model), ServingConfig(model, max_rows=MAX_ROWS))


def _fuzz(operation, mode: GenerationMode, examples: int, seen: Counter) -> None:
    """Up to `examples` cases of `operation` in `mode`, each called and validated."""

    @settings(
        max_examples=examples,
        derandomize=True,  # the same cases on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=_SUPPRESSED,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call_and_validate(checks=CHECKS)
        seen[(operation.path, mode.value, response.status_code // 100)] += 1
        if mode is GenerationMode.NEGATIVE:  # schemathesis' own check does not expect a 413
            assert response.status_code in REFUSED, (response.status_code, case.body)
        elif operation.path == "/predict":  # a body valid by the document is accepted
            assert response.status_code == 200, (response.text, case.body)

    run()


@pytest.mark.slow
def test_every_generated_request_gets_a_documented_answer(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {operation.path for operation in operations}
    assert {"/predict", "/health", "/ready", "/model/info", "/metrics"} <= paths
    seen: Counter = Counter()
    for operation in operations:
        has_inputs = operation.path == "/predict"
        examples = PREDICT_EXAMPLES if has_inputs else OTHER_EXAMPLES
        # Negative data needs something to break: operations without inputs have none.
        modes = list(GenerationMode) if has_inputs else [GenerationMode.POSITIVE]
        for mode in modes:
            _fuzz(operation, mode, examples, seen)
    total = sum(seen.values())
    print(f"schemathesis: {total} cases, by (path, mode, status class): {dict(seen)}")
    assert total >= MIN_CASES, f"only {total} cases ran: {dict(seen)}"
    # Not vacuous: valid bodies reached the model, invalid ones were refused with a 4xx.
    assert seen[("/predict", "positive", 2)] >= 100, dict(seen)
    assert seen[("/predict", "negative", 4)] >= 400, dict(seen)
    assert seen[("/predict", "negative", 2)] == 0, dict(seen)


#: The decimal value of the documented maximum, `3.4028234663852886e+38`, as a JSON integer.
DOCUMENTED_MAXIMUM = 340282346638528860000000000000000000000
_RECORD = {
    "age": 41,
    "job": "admin.",
    "marital": "married",
    "education": "secondary",
    "default": "no",
    "balance": 100,
    "housing": "yes",
    "loan": "no",
    "contact": "cellular",
    "duration": 300,
    "campaign": 1,
    "pdays": -1,
    "previous": 0,
    "poutcome": "unknown",
}


def test_a_record_at_the_documented_float32_bound_is_accepted(app):
    """The documented maximum is written `3.4028234663852886e+38`, whose decimal value is
    340282346638528860000000000000000000000; the codec compares integers with the exact binary
    value of float32's maximum (...859811704183484516925440), so a JSON integer in between is
    valid by the document yet refused with a 422 (schemathesis' positive data hits it often)."""
    client = TestClient(app)
    document = client.get("/openapi.json").json()
    bound = document["components"]["schemas"]["Record"]["properties"]["duration"]["maximum"]
    assert json.dumps(bound) == "3.4028234663852886e+38"
    assert bound == FLOAT32_MAX
    exact = {**_RECORD, "duration": int(FLOAT32_MAX)}  # ...859811704183484516925440
    assert client.post("/predict", json=exact).status_code == 200
    at_bound = {**_RECORD, "duration": DOCUMENTED_MAXIMUM}
    response = client.post("/predict", json=at_bound)
    assert response.status_code == 200, response.text
