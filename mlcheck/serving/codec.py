"""The request codec: JSON body -> validated feature columns, with every problem named.

A body is one record (`{"age": 41, ...}`) or `{"instances": [record, ...]}`. Validation is
lazy: every bad field of every row is reported at once, as `{"row", "field", "error"}`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlcheck.features import FeatureKind, FeatureSpec

__all__ = ["MAX_REPORTED_ERRORS", "RequestError", "decode_request"]

MAX_REPORTED_ERRORS = 50


@dataclass
class RequestError(Exception):
    """A request the serving core refuses: HTTP status and the problems found."""

    status: int
    problems: list[dict[str, Any]]

    @property
    def reason(self) -> str:
        return {400: "malformed", 413: "too_large", 422: "invalid"}.get(self.status, "invalid")


def _problem(row: int | None, field: str, error: str) -> dict[str, Any]:
    return {"row": row, "field": field, "error": error}


def _check_value(spec: FeatureSpec, value: Any) -> str | None:
    """None if `value` fits the feature, else what is wrong with it."""
    if value is None:
        return None if spec.nullable else "must not be null"
    kind = spec.kind
    if kind is FeatureKind.CATEGORICAL:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__} {value!r}"
        if spec.categories is not None and value not in spec.categories:
            shown = ", ".join(spec.categories[:12])
            return f"unknown category {value!r}; expected one of: {shown}"
        return None
    if kind is FeatureKind.BOOLEAN:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {type(value).__name__} {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be finite, got {value!r}"
    if kind is FeatureKind.INTEGER and isinstance(value, float) and not value.is_integer():
        return f"must be an integer, got {value!r}"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be >= {spec.minimum:g}, got {value!r}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be <= {spec.maximum:g}, got {value!r}"
    return None


def decode_request(
    body: bytes, features: Sequence[FeatureSpec], max_rows: int
) -> dict[str, list[Any]]:
    """Validated columns (feature name -> values) from a request body, or a `RequestError`."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, [_problem(None, "body", f"is not valid JSON: {exc}")]) from exc
    if isinstance(payload, dict) and "instances" in payload:
        extra = sorted(set(payload) - {"instances"})
        if extra:
            raise RequestError(422, [_problem(None, extra[0], "is not allowed beside 'instances'")])
        records = payload["instances"]
        if not isinstance(records, list) or not records:
            raise RequestError(
                422, [_problem(None, "instances", "must be a non-empty list of records")]
            )
        if len(records) > max_rows:
            raise RequestError(
                413,
                [_problem(None, "instances", f"has {len(records)} rows; the limit is {max_rows}")],
            )
    elif isinstance(payload, dict):
        records = [payload]
    else:
        raise RequestError(
            422, [_problem(None, "body", "must be a JSON object: a record or {'instances': [...]}")]
        )

    names = {spec.name for spec in features}
    columns: dict[str, list[Any]] = {spec.name: [] for spec in features}
    problems: list[dict[str, Any]] = []
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            problems.append(_problem(row, "record", "must be a JSON object"))
            continue
        for spec in features:
            if spec.name not in record:
                problems.append(_problem(row, spec.name, "is required"))
                continue
            error = _check_value(spec, record[spec.name])
            if error is not None:
                problems.append(_problem(row, spec.name, error))
            else:
                columns[spec.name].append(record[spec.name])
        problems.extend(
            _problem(row, key, "is not a feature of the model")
            for key in record
            if key not in names
        )
        if len(problems) >= MAX_REPORTED_ERRORS:
            break
    if problems:
        raise RequestError(422, problems[:MAX_REPORTED_ERRORS])
    return columns
