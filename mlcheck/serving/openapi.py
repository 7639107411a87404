"""The OpenAPI 3.1 description of the serving core, built from the features it validates against.

The `/predict` request schema says what the codec checks: one record or `{"instances": [...]}`,
every feature required and no other field, numbers within their bounds and float32's range,
categories from their list, nulls only where a feature is nullable. The document is plain JSON
(no NaN or infinity), built once per app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlcheck.features import FeatureKind, FeatureSpec
from mlcheck.serving.codec import FLOAT32_MAX, MAX_DEPTH, MAX_DIGITS, MAX_REPORTED_ERRORS
from mlcheck.stats.tasks import Task

__all__ = ["OPENAPI_VERSION", "feature_schema", "openapi_document"]

OPENAPI_VERSION = "3.1.0"

_TYPES = {
    FeatureKind.NUMERIC: "number",
    FeatureKind.INTEGER: "integer",
    FeatureKind.CATEGORICAL: "string",
    FeatureKind.BOOLEAN: "boolean",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any] | str, description: str) -> dict[str, Any]:
    ref = _ref(schema) if isinstance(schema, str) else schema
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def feature_schema(spec: FeatureSpec) -> dict[str, Any]:
    """The JSON Schema (2020-12, as OpenAPI 3.1 uses) of one feature's value."""
    kind = _TYPES[spec.kind]
    schema: dict[str, Any] = {"type": [kind, "null"] if spec.nullable else kind}
    if spec.kind is FeatureKind.CATEGORICAL and spec.categories is not None:
        schema["enum"] = [*spec.categories, *([None] if spec.nullable else [])]
    if spec.kind in (FeatureKind.NUMERIC, FeatureKind.INTEGER):
        low, high = -FLOAT32_MAX, FLOAT32_MAX
        schema["minimum"] = low if spec.minimum is None else max(spec.minimum, low)
        schema["maximum"] = high if spec.maximum is None else min(spec.maximum, high)
    return schema


def _object(
    properties: dict[str, Any],
    required: list[str] | None = None,
    *,
    description: str | None = None,
    closed: bool = False,
) -> dict[str, Any]:
    """An object schema with `properties` (and `required`, when given); `closed`: no other
    field allowed."""
    schema: dict[str, Any] = {"type": "object"}
    if description is not None:
        schema["description"] = description
    schema["properties"] = properties
    if required is not None:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _request_schemas(features: Sequence[FeatureSpec], max_rows: int) -> dict[str, Any]:
    """What `/predict` takes: one record, or a batch of up to `max_rows` records."""
    batch = {
        "instances": {"type": "array", "items": _ref("Record"), "minItems": 1, "maxItems": max_rows}
    }
    return {
        "Record": _object(
            {spec.name: feature_schema(spec) for spec in features},
            [spec.name for spec in features],
            description="One row: every feature of the model, and nothing else",
            closed=True,
        ),
        "Batch": _object(batch, ["instances"], closed=True),
        "PredictRequest": {"anyOf": [_ref("Record"), _ref("Batch")]},
    }


def _response_schemas(task: Task, classes: Sequence[Any] | None) -> dict[str, Any]:
    """What `/predict` answers: a prediction per row, and the model's version."""
    predictions = {
        "type": "array",
        "items": _ref("Prediction"),
        "description": "One per row, in the order of the rows",
    }
    return {
        "Prediction": _prediction_schema(task, classes),
        "PredictResponse": _object(
            {"predictions": predictions, "model_version": {"type": ["string", "null"]}},
            ["predictions", "model_version"],
        ),
    }


def _error_schemas() -> dict[str, Any]:
    """An error's answer: each problem with its row and field, up to `MAX_REPORTED_ERRORS`."""
    problem = {
        "row": {
            "type": ["integer", "null"],
            "description": "Index of the row, null for the body as a whole",
        },
        "field": {"type": "string", "description": "The feature, or 'body'"},
        "error": {"type": "string", "description": "What is wrong, and the limit"},
    }
    detail = {"type": "array", "items": _ref("Problem"), "maxItems": MAX_REPORTED_ERRORS}
    return {
        "Problem": _object(problem, ["row", "field", "error"]),
        "ErrorResponse": _object({"detail": detail}, ["detail"]),
    }


def _info_schemas() -> dict[str, Any]:
    """The answers of `/health`, `/ready` and `/model/info`."""
    model_info = {
        "uri": {"type": "string"},
        "flavor": {"type": "string"},
        "version": {"type": ["string", "null"]},
        "features": {"type": "array", "items": {"type": "object"}},
        "validated_by": {"type": "string"},
        "schema": {"type": ["string", "null"]},
        "load_seconds": {"type": "number"},
        "max_rows": {"type": "integer"},
        "decision_threshold": {"type": "number"},
    }
    return {
        "Status": _object({"status": {"type": "string"}, "model": {"type": "string"}}, ["status"]),
        "ModelInfo": _object(model_info),
    }


def _schemas(
    features: Sequence[FeatureSpec], max_rows: int, task: Task, classes: Sequence[Any] | None
) -> dict[str, Any]:
    """The document's component schemas, by name."""
    return {
        **_request_schemas(features, max_rows),
        **_response_schemas(task, classes),
        **_error_schemas(),
        **_info_schemas(),
    }


def _get(operation_id: str, summary: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary, "responses": {"200": ok}}}


def _prediction_schema(task: Task, classes: Sequence[Any] | None) -> dict[str, Any]:
    """One row's prediction: `{class, probability}`, `{class, probabilities}` or `{value}`."""
    if task == "regression":
        return {
            "type": "object",
            "properties": {"value": {"type": "number", "description": "The predicted value"}},
            "required": ["value"],
        }
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    labels = list(classes) if classes is not None else ([0, 1] if task == "binary" else None)
    label: dict[str, Any] = {"enum": labels} if labels is not None else {}
    if task == "binary":
        return {
            "type": "object",
            "properties": {
                "class": label,
                "probability": {**probability, "description": "P(the second class)"},
            },
            "required": ["class", "probability"],
        }
    return {
        "type": "object",
        "properties": {
            "class": label,
            "probabilities": {
                "type": "object",
                "additionalProperties": probability,
                "description": "P(class) for each class, in the model's class order",
            },
        },
        "required": ["class", "probabilities"],
    }


def openapi_document(
    features: Sequence[FeatureSpec],
    max_rows: int,
    *,
    title: str,
    version: str,
    description: str = "",
    max_body_bytes: int | None = None,
    body_timeout_s: float | None = None,
    task: Task = "binary",
    classes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document of a serving app that validates requests against `features` and
    answers as a `task` model with `classes` (None: 0/1 for binary, unknown for multiclass)."""
    limits = [
        f"at most {max_rows} rows",
        f"nesting at most {MAX_DEPTH} levels deep",
        f"numbers of at most {MAX_DIGITS} digits in a row, within float32's range",
    ]
    if max_body_bytes is not None:
        limits.append(f"at most {max_body_bytes} bytes")
    if body_timeout_s is not None:
        limits.append(f"the whole body within {body_timeout_s:g} s")
    predict = {
        "operationId": "predict",
        "summary": "Predict one record or a batch",
        "description": "Every problem of every row is reported at once. Limits: "
        + "; ".join(limits)
        + ".",
        "requestBody": {"required": True, **_json("PredictRequest", "A record or a batch")},
        "responses": {
            "200": _json("PredictResponse", "The predictions, one per row"),
            "400": _json(
                "ErrorResponse",
                "Not JSON, not UTF-8, nested too deep, or a Host outside --allowed-hosts",
            ),
            "408": _json("ErrorResponse", "The body did not arrive in time"),
            "413": _json("ErrorResponse", "Too many rows or too many bytes"),
            "415": _json("ErrorResponse", "The body is not sent as application/json"),
            "422": _json("ErrorResponse", "Rows the model cannot take, field by field"),
            "500": _json("ErrorResponse", "The model failed"),
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": {
            "/predict": {"post": predict},
            "/health": _get("health", "Liveness", _json("Status", "The process answers")),
            "/ready": _get("ready", "Readiness", _json("Status", "The model is loaded")),
            "/model/info": _get(
                "modelInfo", "The served model and its features", _json("ModelInfo", "The model")
            ),
            "/metrics": _get(
                "metrics",
                "Prometheus metrics",
                {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
            ),
            "/openapi.json": _get(
                "openapi", "This document", _json({"type": "object"}, "The OpenAPI document")
            ),
        },
        "components": {"schemas": _schemas(features, max_rows, task, classes)},
    }
