"""The request codec: JSON body -> validated feature columns, with every problem named.

A body is one record (`{"age": 41, ...}`) or `{"instances": [record, ...]}`. Validation is
lazy: every bad field of every row is reported at once, as `{"row", "field", "error"}`.

Before the body is parsed, two cheap scans of its bytes (C loops: `bytes.translate`, `replace`,
a numpy prefix sum over the brackets) refuse what would make the parser itself fail: nesting
deeper than `MAX_DEPTH` (Python's parser recurses) and runs of more than `MAX_DIGITS` digits
(no feature can hold them; Python refuses integers of more than 4300 digits). A value must also
fit float32, the type the model is fed.

A key may appear once in an object (`{"age": 1, "age": 2}` is refused with 422, not read as
age 2, the last one, as JSON parsers do): a body holds as many colons outside its strings as its
objects' keys, a count in C that finds a repeated key; only then is the body parsed again to
name it.
"""

from __future__ import annotations

import json
import math
import operator
import re
import reprlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

import msgspec
import numpy as np

from mlcheck.features import FeatureKind, FeatureSpec

__all__ = [
    "FLOAT32_MAX",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_REPORTED_ERRORS",
    "RequestError",
    "accepted_rows",
    "decode_request",
]

MAX_REPORTED_ERRORS = 50
#: Levels of arrays and objects a body may nest: a batch needs 3 (body, instances, record).
MAX_DEPTH = 32
#: Digits in a row a number may have: float32 holds at most 39 integer digits.
MAX_DIGITS = 40
#: The largest finite float32: every number must lie in [-FLOAT32_MAX, FLOAT32_MAX].
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: The same bound as the decimal `repr(FLOAT32_MAX)` reads: what an integer is held to.
_FLOAT32_MAX_INT = int(Decimal(repr(FLOAT32_MAX)))

_REASONS = {400: "malformed", 408: "timeout", 413: "too_large", 422: "invalid"}
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_NOT_QUOTE_OR_COLON = bytes(sorted(set(range(256)) - set(b'":')))
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as int8
_ONE_DIGIT = bytes.maketrans(b"123456789", b"000000000")
_TOO_MANY_DIGITS = b"0" * (MAX_DIGITS + 1)
_STRING = rb'"((?:[^"\\]++|\\.)*+)"'
_STRINGS = re.compile(_STRING, re.DOTALL)
_STRING_OR_LONG_NUMBER = re.compile(_STRING + rb"|[0-9]{%d,}" % (MAX_DIGITS + 1), re.DOTALL)

_shorten = reprlib.Repr()
_shorten.maxstring = _shorten.maxother = _shorten.maxlong = 40
_shorten.maxlevel, _shorten.maxlist, _shorten.maxdict = 2, 4, 4


@dataclass
class RequestError(Exception):
    """A request the serving core refuses: HTTP status, the problems found and, when the status
    alone does not say it, the reason it is counted under."""

    status: int
    problems: list[dict[str, Any]]
    kind: str | None = None

    @property
    def reason(self) -> str:
        return self.kind or _REASONS.get(self.status, "invalid")


def _problem(row: int | None, field: str, error: str) -> dict[str, Any]:
    return {"row": row, "field": _shown_name(field), "error": error}


def _shown(value: Any) -> str:
    """`repr(value)`, shortened: a message quotes a value, never a whole body."""
    return _shorten.repr(value)


def _shown_name(name: str) -> str:
    name = name if len(name) <= 60 else name[:57] + "..."
    if not name.isascii():  # a lone surrogate (`"\\ud800"` in the body) has no UTF-8 form
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name


def _depth_beyond_limit(body: bytes) -> int:
    """How deep arrays and objects nest in `body` if deeper than `MAX_DEPTH`, else 0. Brackets
    inside strings do not count."""
    skeleton = None
    if b"\\" not in body:  # no escapes: strings are the quote pairs, "" once their text is gone
        skeleton = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if skeleton is None or b'"' in skeleton:  # escapes, or brackets inside strings: drop strings
        skeleton = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKET)
    if skeleton.count(b"[") + skeleton.count(b"{") <= MAX_DEPTH:
        return 0
    steps = np.frombuffer(skeleton.translate(_DEPTH_STEP), dtype=np.int8)
    depth = int(steps.cumsum(dtype=np.int32).max())
    return depth if depth > MAX_DEPTH else 0


def _long_number(body: bytes) -> dict[str, Any] | None:
    """The first number of more than `MAX_DIGITS` digits in `body` (outside strings), as a
    problem naming the key before it, or None."""
    if _TOO_MANY_DIGITS not in body.translate(_ONE_DIGIT):
        return None
    field = "body"
    for match in _STRING_OR_LONG_NUMBER.finditer(body):
        if match.group(1) is not None:
            field = match.group(1).decode("utf-8", "replace")
            continue
        digits = match.group(0)
        shown = digits[:12].decode() + "..."
        return _problem(
            None, field, f"has {len(digits)} digits ({shown}); the limit is {MAX_DIGITS}"
        )
    return None  # the long run is inside a string


def _parse(body: bytes) -> Any:
    """The JSON value of `body`, or a `RequestError` that says what is wrong with it."""
    depth = _depth_beyond_limit(body)
    if depth:
        error = f"is nested {depth} levels deep; the limit is {MAX_DEPTH}"
        raise RequestError(400, [_problem(None, "body", error)], "too_deep")
    long_number = _long_number(body)
    if long_number is not None:
        raise RequestError(422, [long_number])
    # msgspec's parser (C, ~4x faster) gives the value Python's gives (integers of any
    # size too: tests/test_codec.py holds them equal); what it refuses, Python's parser names,
    # or accepts (NaN, 1e400, lone surrogates), and the value checks then judge
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        pass
    except UnicodeDecodeError as exc:  # bytes that are not UTF-8 inside a string
        error = f"is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})"
        raise RequestError(400, [_problem(None, "body", error)]) from exc
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestError(400, [_problem(None, "body", f"is not valid JSON: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        error = f"is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})"
        raise RequestError(400, [_problem(None, "body", error)]) from exc
    except RecursionError as exc:  # only if the scan missed it (a UTF-16 body, say)
        error = f"is nested too deep; the limit is {MAX_DEPTH}"
        raise RequestError(400, [_problem(None, "body", error)], "too_deep") from exc
    except ValueError as exc:  # a number the scan missed that Python will not convert
        error = f"has a number of too many digits; the limit is {MAX_DIGITS}"
        raise RequestError(422, [_problem(None, "body", error)]) from exc


class _Repeated(dict[str, Any]):
    """An object in which keys appeared more than once: `repeated` says which, how often."""

    repeated: dict[str, int]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads`' `object_pairs_hook`: the object, marked when a key appears twice."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    marked = _Repeated(value)
    marked.repeated = {k: n for k, n in Counter(k for k, _ in pairs).items() if n > 1}
    return marked


def _colons(body: bytes) -> int:
    """The colons of `body` (numpy's count is ~9x faster than `bytes.count` on a large body)."""
    if len(body) < 4096:
        return body.count(b":")
    return int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == ord(":")))


def _structural_colons(body: bytes) -> int:
    """The colons of `body` outside its strings: as many as its objects' keys."""
    if b"\\" not in body:  # no escapes: strings are the quote pairs, "" once their text is gone
        skeleton = body.translate(None, _NOT_QUOTE_OR_COLON).replace(b'""', b"")
        if b'"' not in skeleton:
            return skeleton.count(b":")
    return _STRINGS.sub(b"", body).count(b":")


def _keys(payload: dict[str, Any]) -> int:
    """The keys of `payload` and of the records of its `instances` (what a body holds)."""
    keys = len(payload)
    records = payload.get("instances")
    if isinstance(records, list):
        if set(map(type, records)) == {dict}:
            keys += sum(map(len, records))
        else:
            keys += sum(len(r) for r in records if isinstance(r, dict))
    return keys


def _repeated_keys(body: bytes, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A problem for each key that appears more than once in an object of `body`, which
    parsed as `payload`. A body whose colons are as many as its keys has none: found in C, the
    common case; else (keys repeated, colons in strings, objects nested in values) it is parsed
    again to find them."""
    keys = _keys(payload)
    if _colons(body) == keys or _structural_colons(body) == keys:
        return []
    try:
        value = json.loads(body, object_pairs_hook=_object)
    except (ValueError, RecursionError):  # it parsed before: not expected
        return []
    problems: list[dict[str, Any]] = []

    def walk(node: Any, row: int | None) -> None:
        if isinstance(node, dict):
            problems.extend(
                _problem(row, key, f"appears {count} times in one object; a key may appear once")
                for key, count in getattr(node, "repeated", {}).items()
            )
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            return
        for child in children:
            walk(child, row)

    records = value.get("instances") if isinstance(value, dict) else None
    if isinstance(records, list):  # a batch: the wrapper's keys, then each record's
        wrapper = _Repeated(value)
        wrapper.repeated = getattr(value, "repeated", {})
        wrapper.pop("instances")
        walk(wrapper, None)
        for row, record in enumerate(records):
            walk(record, row)
    else:
        walk(value, 0)
    return problems[:MAX_REPORTED_ERRORS]


def _check_value(spec: FeatureSpec, value: Any) -> str | None:
    """None if `value` fits the feature, else what is wrong with it."""
    if value is None:
        return None if spec.nullable else "must not be null"
    kind = spec.kind
    if kind is FeatureKind.CATEGORICAL:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__} {_shown(value)}"
        if spec.categories is not None and value not in spec.categories:
            shown = ", ".join(spec.categories[:12])
            return f"unknown category {_shown(value)}; expected one of: {shown}"
        return None
    if kind is FeatureKind.BOOLEAN:
        return None if isinstance(value, bool) else f"must be true or false, got {_shown(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {type(value).__name__} {_shown(value)}"
    # the bound as /openapi.json writes it (repr of the double): exact for integers too
    limit = _FLOAT32_MAX_INT if isinstance(value, int) else FLOAT32_MAX
    if not -limit <= value <= limit:  # also NaN and infinity
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be finite, got {value!r}"
        return (
            f"must be within float32's range [{-FLOAT32_MAX:.8g}, {FLOAT32_MAX:.8g}], "
            f"got {_shown(value)}"
        )
    if kind is FeatureKind.INTEGER and isinstance(value, float) and not value.is_integer():
        return f"must be an integer, got {value!r}"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be >= {spec.minimum:g}, got {value!r}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be <= {spec.maximum:g}, got {value!r}"
    return None


#: Beyond this magnitude an integer is checked one by one (float64 would round it near
#: float32's bound, which integers are held to exactly).
_EXACT_IN_BULK = 1e38


def _column_fits(spec: FeatureSpec, values: list[Any]) -> bool:
    """True if every value fits the feature, checked over the whole column at once (C loops);
    False if one may not: `_check_value` then names each problem."""
    types = set(map(type, values))
    if spec.kind is FeatureKind.CATEGORICAL:
        return types == {str} and (spec.categories is None or set(values) <= spec.category_set)
    if spec.kind is FeatureKind.BOOLEAN:
        return types == {bool}
    if not types <= {int, float}:
        return False
    try:
        column = np.array(values, dtype=np.float64)
    except OverflowError:
        return False
    if not np.isfinite(column).all():
        return False
    magnitude = float(np.abs(column).max())
    if magnitude > (_EXACT_IN_BULK if int in types else FLOAT32_MAX):
        return False
    if spec.kind is FeatureKind.INTEGER and float in types and not (column % 1 == 0).all():
        return False
    return (spec.minimum is None or column.min() >= spec.minimum) and (
        spec.maximum is None or column.max() <= spec.maximum
    )


def _columns_in_bulk(
    records: list[Any], features: Sequence[FeatureSpec]
) -> dict[str, list[Any]] | None:
    """The columns when every record is an object of exactly the features and every column
    fits (the common case, checked a column at a time); None when the rows must be checked
    one by one to name what is wrong."""
    if set(map(type, records)) != {dict} or set(map(len, records)) != {len(features)}:
        return None
    columns = {}
    for spec in features:
        try:
            values = list(map(operator.itemgetter(spec.name), records))
        except KeyError:
            return None
        if not _column_fits(spec, values):
            return None
        columns[spec.name] = _as_declared(spec, values)
    return columns


def _as_declared(spec: FeatureSpec, values: list[Any]) -> list[Any]:
    """An integer feature's values as ints (`41.0` is accepted for 41): what is predicted on
    and captured has the model's declared types, so a captured file is scored as it was."""
    if spec.kind is not FeatureKind.INTEGER:
        return values
    return [int(v) if isinstance(v, float) else v for v in values]


def decode_request(
    body: bytes, features: Sequence[FeatureSpec], max_rows: int
) -> dict[str, list[Any]]:
    """Validated columns (feature name -> values) from a request body, or a `RequestError`."""
    payload = _parse(body)
    if isinstance(payload, dict):
        repeated = _repeated_keys(body, payload)
        if repeated:
            raise RequestError(422, repeated)
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

    return _columns(records, features)


def _columns(records: list[Any], features: Sequence[FeatureSpec]) -> dict[str, list[Any]]:
    """The validated columns of `records`: checked in bulk, else one by one (naming each
    problem in a `RequestError`)."""
    columns = _columns_in_bulk(records, features)
    return columns if columns is not None else _columns_one_by_one(records, features)


def _columns_one_by_one(
    records: list[Any], features: Sequence[FeatureSpec]
) -> dict[str, list[Any]]:
    """The columns, each value checked on its own: every problem of every row is named."""
    names = {spec.name for spec in features}
    columns: dict[str, list[Any]] = {spec.name: [] for spec in features}
    problems: list[dict[str, Any]] = []
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            problems.append(_problem(row, "record", "must be a JSON object"))
            continue
        present = len(features)
        for spec in features:
            if spec.name not in record:
                problems.append(_problem(row, spec.name, "is required"))
                present -= 1
                continue
            error = _check_value(spec, record[spec.name])
            if error is not None:
                problems.append(_problem(row, spec.name, error))
            else:
                columns[spec.name].append(record[spec.name])
        if len(record) > present:  # keys that are not features
            unknown = (key for key in record if key not in names)
            problems.extend(
                _problem(row, key, "is not a feature of the model")
                for key in islice(unknown, MAX_REPORTED_ERRORS)
            )
        if len(problems) >= MAX_REPORTED_ERRORS:
            break
    if problems:
        raise RequestError(422, problems[:MAX_REPORTED_ERRORS])
    return {spec.name: _as_declared(spec, columns[spec.name]) for spec in features}


def accepted_rows(records: Sequence[Any], features: Sequence[FeatureSpec]) -> list[int]:
    """The positions of the records the serving core accepts (each as a one-row request):
    what a gate compares served and offline outputs on, while the schema gate reports the
    rest."""
    return [i for i, record in enumerate(records) if _accepted(record, features)]


def _accepted(record: Any, features: Sequence[FeatureSpec]) -> bool:
    try:
        _columns([record], features)
    except RequestError:
        return False
    return True
