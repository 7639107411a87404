"""Clients that send what no honest client sends: every answer is a short 4xx, counted by reason;
clients that go away or stall are counted apart from server errors; the API is described."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mlcheck.features import FeatureKind, FeatureSpec
from mlcheck.models.load import load_model
from mlcheck.probes.http import post_json
from mlcheck.serving.app import create_app
from mlcheck.serving.config import ServingConfig
from tests.conftest import ROOT
from tests.test_codec import RECORD

#: What a JSON client sends (anything else is 415).
JSON = {"content-type": "application/json"}
LEAKS = ("Traceback", "RecursionError", "OverflowError", "sys.", "int_max_str_digits", 'File "')


@pytest.fixture(scope="module")
def app(small_model_dir) -> Starlette:
    config = ServingConfig(str(small_model_dir), max_rows=20, body_timeout_s=0.3)
    return create_app(load_model(config.model), config)


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _count(app: Starlette, name: str, **labels: str) -> float:
    value = app.state.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def _predict_status(app: Starlette, status: str) -> float:
    return _count(app, "http_requests_total", endpoint="/predict", method="POST", status=status)


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        _nested(10_000),
        '{"instances": ' + _nested(10_000) + "}",
        json.dumps(RECORD)[:-1] + ', "age": ' + _nested(10_000) + "}",
        '{"instances": [' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "]}",
    ],
    ids=["top-level", "instances", "field", "objects"],
)
def test_deep_nesting_is_a_400_counted_as_too_deep(app, client, body):
    before = _count(app, "ml_prediction_errors_total", reason="too_deep")
    before_400 = _predict_status(app, "400")
    response = client.post("/predict", content=body.encode(), headers=JSON)
    assert response.status_code == 400, response.text[:300]
    [problem] = response.json()["detail"]
    assert problem["field"] == "body" and "levels deep; the limit is 32" in problem["error"]
    assert not any(leak in response.text for leak in LEAKS)
    assert _count(app, "ml_prediction_errors_total", reason="too_deep") == before + 1
    assert _predict_status(app, "400") == before_400 + 1


@pytest.mark.parametrize(("field", "digits"), [("balance", 4000), ("age", 10_000)])
def test_huge_numbers_are_a_422_without_python_internals(app, client, field, digits):
    before = _count(app, "ml_prediction_errors_total", reason="invalid")
    model_errors = _count(app, "ml_prediction_errors_total", reason="model")
    body = json.dumps(RECORD).replace(f'"{field}": {RECORD[field]}', f'"{field}": ' + "9" * digits)
    response = client.post("/predict", content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text[:300]
    [problem] = response.json()["detail"]
    assert problem["field"] == field and "the limit is 40" in problem["error"]
    assert len(response.text) < 300 and not any(leak in response.text for leak in LEAKS)
    assert _count(app, "ml_prediction_errors_total", reason="invalid") == before + 1
    assert _count(app, "ml_prediction_errors_total", reason="model") == model_errors


def test_values_beyond_float32_never_reach_the_model(app, client):
    for value in (1e308, 10**39):
        response = client.post("/predict", json=dict(RECORD, duration=value))
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {
                "row": 0,
                "field": "duration",
                "error": "must be within float32's range [-3.4028235e+38, 3.4028235e+38], "
                f"got {value!r}",
            }
        ]
    assert _count(app, "ml_prediction_errors_total", reason="model") == 0


# --- clients that go away or stall: driven through ASGI directly -------------------------------


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"300")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def _call(app: Starlette, receive: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(app(_scope(), receive, send), timeout=5)

    asyncio.run(run())
    return sent


def test_a_client_that_disconnects_mid_body_is_a_499_not_a_server_error(app):
    server_errors = _predict_status(app, "500")
    disconnected = _predict_status(app, "499")
    messages = iter(
        [
            {"type": "http.request", "body": b'{"age": 36, "job": ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    sent = _call(app, receive)
    assert not any(m["type"] == "http.response.start" and m["status"] >= 500 for m in sent)
    assert _predict_status(app, "500") == server_errors
    assert _predict_status(app, "499") == disconnected + 1
    assert _count(app, "ml_prediction_errors_total", reason="disconnected") >= 1


def test_a_body_that_never_completes_times_out_with_a_408(app):
    chunks = [{"type": "http.request", "body": b'{"age": 36', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # the rest of the body never comes
        raise AssertionError("unreachable")

    before = _predict_status(app, "408")
    sent = _call(app, receive)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 408 and (b"connection", b"close") in start["headers"]
    body = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    assert body["detail"][0]["field"] == "body"
    assert "did not arrive within 0.3 s" in body["detail"][0]["error"]
    assert _predict_status(app, "408") == before + 1
    assert _count(app, "ml_prediction_errors_total", reason="timeout") >= 1


# --- the OpenAPI description ---------------------------------------------------------------------


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _errors(doc: dict[str, Any], schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    """A small JSON Schema check of the keywords the document uses (no validator is installed)."""
    schema = _resolve(doc, schema)
    if "anyOf" in schema:
        branches = [_errors(doc, s, value, path) for s in schema["anyOf"]]
        return [] if any(not b for b in branches) else [f"{path}: matches no anyOf branch"]
    problems = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        checks = {
            "null": value is None,
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int | float)
            and not isinstance(value, bool)
            and float(value).is_integer(),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "string": isinstance(value, str),
            "array": isinstance(value, list),
            "object": isinstance(value, dict),
        }
        if not any(checks[t] for t in types):
            return [f"{path}: not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: not in enum")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: above maximum")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{path}.{k}: missing" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}.{k}: not allowed" for k in value if k not in properties]
        for key, item in value.items():
            if key in properties:
                problems += _errors(doc, properties[key], item, f"{path}.{key}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            problems.append(f"{path}: too many items")
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{path}: too few items")
        for i, item in enumerate(value):
            problems += _errors(doc, schema.get("items", {}), item, f"{path}[{i}]")
    return problems


def _request_schema(doc: dict[str, Any]) -> dict[str, Any]:
    body = doc["paths"]["/predict"]["post"]["requestBody"]
    assert body["required"] is True
    return body["content"]["application/json"]["schema"]


def _example(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A value the schema allows, built from the schema alone."""
    schema = _resolve(doc, schema)
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    kind = next(t for t in types if t != "null")
    if kind == "object":
        return {k: _example(doc, s) for k, s in schema["properties"].items()}
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", -10.0), schema.get("maximum", 10.0)
        middle = (low + high) / 2
        return round(middle) if kind == "integer" else middle
    return {"boolean": True, "string": "text"}[kind]


def test_openapi_describes_every_route_and_the_predict_body(app, client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"] and doc["info"]["version"]
    assert set(doc["paths"]) >= {"/predict", "/health", "/ready", "/model/info", "/metrics"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert method in ("get", "post") and operation["responses"], (path, method)
            assert operation["operationId"] and operation["summary"]
    responses = doc["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "408", "413", "415", "422", "500"} <= set(responses)
    schemas = doc["components"]["schemas"]
    record = schemas["Record"]
    assert record["additionalProperties"] is False
    names = [f["name"] for f in client.get("/model/info").json()["features"]]
    assert list(record["properties"]) == record["required"] == names
    assert record["properties"]["job"]["enum"][:2] == ["admin.", "blue-collar"]
    assert record["properties"]["age"]["type"] == "integer"
    batch = schemas["Batch"]["properties"]["instances"]
    assert batch["maxItems"] == 20 and batch["minItems"] == 1
    problem = schemas["Problem"]["properties"]
    assert set(problem) == {"row", "field", "error"}
    assert "class" in schemas["Prediction"]["properties"]
    # every $ref points somewhere
    for ref in _refs(doc):
        assert _resolve(doc, {"$ref": ref})
    try:  # a full check when a validator happens to be installed (not a dependency)
        from openapi_spec_validator import validate
    except ImportError:
        pass
    else:
        validate(doc)
    assert client.get("/metrics").text.count('endpoint="/openapi.json"') >= 1


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_what_the_schema_allows_is_accepted_and_what_it_forbids_is_refused(small_model_dir):
    """Served with the schema file (age 18..100 and nullable), the published schema and the
    server agree on every request below."""
    schema_file = str(ROOT / "checks" / "schema.py")
    config = ServingConfig(str(small_model_dir), schema_file, max_rows=3)
    with TestClient(create_app(load_model(config.model), config)) as client:
        doc = client.get("/openapi.json").json()
        request = _request_schema(doc)
        age = _resolve(doc, doc["components"]["schemas"]["Record"])["properties"]["age"]
        assert "null" in age["type"] and age["maximum"] == 100
        record = _example(doc, doc["components"]["schemas"]["Record"])
        allowed = [record, {"instances": [record] * 3}, dict(record, age=None)]
        forbidden = [
            dict(record, age=101),
            dict(record, job="astronaut"),
            dict(record, colour="red"),
            {k: v for k, v in record.items() if k != "job"},
            {"instances": [record] * 4},
            {"instances": []},
            {"instances": [record], "extra": 1},
            dict(record, age=1e39),
            [record],
        ]
        for body in allowed:
            assert _errors(doc, request, body) == [], body
            assert client.post("/predict", json=body).status_code == 200, body
        for body in forbidden:
            assert _errors(doc, request, body), body
            assert client.post("/predict", json=body).status_code in (413, 422), body


def test_the_schema_of_each_kind_of_feature():
    from mlcheck.serving.openapi import openapi_document

    features = (
        FeatureSpec("score", FeatureKind.NUMERIC, minimum=0.0, maximum=1.0),
        FeatureSpec("count", FeatureKind.INTEGER, nullable=True),
        FeatureSpec("flag", FeatureKind.BOOLEAN),
        FeatureSpec("colour", FeatureKind.CATEGORICAL, ("red", "blue"), nullable=True),
        FeatureSpec("free", FeatureKind.CATEGORICAL),
    )
    doc = openapi_document(features, max_rows=7, title="m", version="3")
    props = doc["components"]["schemas"]["Record"]["properties"]
    assert props["score"] == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    assert props["count"]["type"] == ["integer", "null"]
    assert -props["count"]["minimum"] == props["count"]["maximum"] == pytest.approx(3.4028235e38)
    assert props["flag"] == {"type": "boolean"}
    assert props["colour"] == {"type": ["string", "null"], "enum": ["red", "blue", None]}
    assert props["free"] == {"type": "string"}
    assert doc["components"]["schemas"]["Batch"]["properties"]["instances"]["maxItems"] == 7
    json.dumps(doc, allow_nan=False)  # plain JSON: no NaN or infinity anywhere


@pytest.mark.slow
@pytest.mark.parametrize("sent", [b"", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le"])
def test_a_request_head_that_never_completes_gets_a_408_and_the_connection_closes(
    small_model_dir, sent
):
    """A slowloris client (nothing, or part of the head, then silence) is cut off in time."""
    import socket
    import time
    from urllib.parse import urlsplit

    from mlcheck.serving.process import ServedModel

    with ServedModel(ServingConfig(str(small_model_dir), header_timeout_s=1.0)) as served:
        address = urlsplit(served.url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(sent)
            started = time.monotonic()
            answer = b""
            while chunk := sock.recv(4096):  # until the server closes the connection
                answer += chunk
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert 0.8 < waited < 5, waited
        # a complete request on a new connection is served as before
        status, _ = post_json(f"{served.url}/predict", {"instances": []})
        assert status in (413, 422)
