"""Input schemas (pandera): built with `numeric` / `category`, loaded from a `.py` file that
defines `SCHEMA` or from pandera YAML, inferred from reference data, saved for a user to edit,
and turned into the feature specs the serving core validates requests against.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from mlcheck.errors import ConfigError
from mlcheck.features import FeatureKind, FeatureSpec

__all__ = [
    "MISSING_COLUMN",
    "ViolationGroup",
    "category",
    "features_from_schema",
    "infer_schema",
    "load_schema",
    "merge_violation_groups",
    "numeric",
    "save_schema",
    "violation_groups",
]


_EXAMPLES = 5
MISSING_COLUMN = "column is missing"


class ViolationGroup(TypedDict):
    """The violations of one check on one column (as gate.json's schema gate lists them)."""

    column: str
    check: str
    count: int
    examples: list[str]  # a few failing values (for a column that is not numeric: its dtype)
    rows: list[int]  # the first failing rows' positions
    partition: NotRequired[str]  # over partitions: the one the examples come from


def _groups(cases: pd.DataFrame, frame: pd.DataFrame) -> list[ViolationGroup]:
    """Failure cases grouped by column and check, structural problems first.

    When a column is not numeric at all, its range checks only repeat that (as TypeErrors),
    so they are folded into the one structural problem.
    """
    groups: list[ViolationGroup] = []
    cases = cases.assign(column=cases["column"].fillna("<frame>").astype(str))
    not_numeric = set(cases.loc[cases["check"].astype(str) == "numeric_dtype", "column"])
    for (column, check), rows in cases.groupby(["column", "check"], sort=False):
        check = "not an allowed category" if str(check).startswith("isin(") else str(check)
        if column in not_numeric and check != "numeric_dtype":
            continue
        if check == "column_in_dataframe":
            for missing in rows["failure_case"].dropna().astype(str).unique():
                groups.append(
                    {
                        "column": missing,
                        "check": MISSING_COLUMN,
                        "count": 1,
                        "examples": [],
                        "rows": [],
                    }
                )
            continue
        if check == "numeric_dtype" and column in frame.columns:
            values = frame[column].dropna().astype(str).unique()[:3].tolist()
            examples = [f"dtype {frame[column].dtype}", *values]
        else:
            examples = rows["failure_case"].dropna().astype(str).unique()[:_EXAMPLES].tolist()
        index = [int(i) for i in rows["index"].dropna().head(_EXAMPLES)]
        groups.append(
            {
                "column": str(column),  # already text: the column names were made str above
                "check": check,
                "count": len(rows),
                "examples": examples,
                "rows": index,
            }
        )
    groups.sort(key=lambda g: (g["check"] not in (MISSING_COLUMN, "numeric_dtype"), -g["count"]))
    return groups


def violation_groups(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> list[ViolationGroup]:
    """Validate lazily: every violation of `frame`, grouped by column and check, counted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            return _groups(exc.failure_cases, frame)
        except SchemaError as exc:  # raised eagerly by some frame-level checks
            return [
                {
                    "column": str(exc.schema.name),
                    "check": str(exc.check),
                    "count": 1,
                    "examples": [],
                    "rows": [],
                }
            ]
    return []


def merge_violation_groups(
    partitions: Sequence[tuple[str, list[ViolationGroup]]],
) -> list[ViolationGroup]:
    """Each partition's groups (with the partition's name) merged: counts added, examples
    and row numbers kept from the first partitions, which name the partition they are in."""
    merged: dict[tuple[str, str], ViolationGroup] = {}
    for name, groups in partitions:
        for group in groups:
            key = (group["column"], group["check"])
            into = merged.get(key)
            if into is None:
                merged[key] = {**group, "partition": name}
                continue
            if group["check"] == MISSING_COLUMN:
                continue  # one missing column, however many partitions lack it
            into["count"] += group["count"]
            examples = into["examples"] + [
                e for e in group["examples"] if e not in into["examples"]
            ]
            into["examples"] = examples[:_EXAMPLES]
    groups = list(merged.values())
    groups.sort(key=lambda g: (g["check"] not in (MISSING_COLUMN, "numeric_dtype"), -g["count"]))
    return groups


def _is_number(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def numeric(
    minimum: float | None = None,
    maximum: float | None = None,
    nullable: bool = True,
    integer: bool = False,
) -> pa.Column:
    """A numeric input: any int or float dtype, within [minimum, maximum].

    Nulls are allowed by default: how many may be missing is the data-quality gate's call.
    """
    checks = [pa.Check(_is_number, name="numeric_dtype")]
    if minimum is not None and maximum is not None:
        checks.append(pa.Check.in_range(minimum, maximum))
    elif minimum is not None:
        checks.append(pa.Check.ge(minimum))
    elif maximum is not None:
        checks.append(pa.Check.le(maximum))
    if integer:
        checks.append(pa.Check(lambda s: s.isna() | (s % 1 == 0), name="whole_numbers"))
    return pa.Column(checks=checks, nullable=nullable, required=True)


def category(values: Iterable[str], nullable: bool = True) -> pa.Column:
    """A categorical input: one of `values` (strings)."""
    return pa.Column(checks=[pa.Check.isin(list(values))], nullable=nullable, required=True)


def load_schema(path: str | Path) -> pa.DataFrameSchema:
    """A schema from a `.py` file defining SCHEMA, or from a pandera `.yaml`/`.yml` file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"schema={str(path)!r} does not exist; point [schema] file at a Python file that "
            "defines SCHEMA or a pandera YAML file, or leave it empty to infer one"
        )
    if path.suffix in (".yaml", ".yml"):
        try:
            return pa.DataFrameSchema.from_yaml(path)
        except Exception as exc:
            raise ConfigError(f"schema={str(path)!r} is not a pandera YAML schema: {exc}") from exc
    if path.suffix != ".py":
        raise ConfigError(f"schema={str(path)!r}: use a .py file defining SCHEMA or a .yaml file")
    spec = importlib.util.spec_from_file_location(f"mlcheck_schema_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"schema={str(path)!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            f"schema={str(path)!r} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    schema = getattr(module, "SCHEMA", None)
    if not isinstance(schema, pa.DataFrameSchema):
        raise ConfigError(
            f"schema={str(path)!r} must define SCHEMA = pandera.pandas.DataFrameSchema(...)"
        )
    return schema


def infer_schema(reference: pd.DataFrame, target: str | None = None) -> pa.DataFrameSchema:
    """A schema inferred from reference data: only what a sample can tell for sure.

    Numeric columns get their type (whole numbers when every reference value is one) and, when
    the reference has no negative value, a lower bound of 0; no other range, since a sample's
    min and max say little about the next one (the outlier-rate gate judges values instead).
    Other columns get the categories seen. Inputs may be null (the missing-rate gate's call);
    the label may not, and is 0/1 when the reference's labels are.
    """
    columns = {
        str(name): _inferred_column(reference[name], nullable=name != target)
        for name in reference.columns
    }
    if target is not None and target in columns:
        labels = reference[target].dropna()
        if _is_number(labels) and labels.isin([0, 1]).all():
            columns[target] = pa.Column(checks=[pa.Check.isin([0, 1])], nullable=False)
    return pa.DataFrameSchema(columns, name="inferred from the reference data")


def _inferred_column(series: pd.Series, nullable: bool) -> pa.Column:
    """One column of `infer_schema`: type, sign and categories; never a range from the sample."""
    if not _is_number(series):
        return category(sorted(str(v) for v in series.dropna().unique()), nullable=nullable)
    values = series.dropna()
    if values.empty:
        return numeric(nullable=nullable)
    integer = bool(pd.api.types.is_integer_dtype(series) or (values % 1 == 0).all())
    minimum = 0.0 if values.min() >= 0 else None  # a sign the reference never crossed
    return numeric(minimum, nullable=nullable, integer=integer)


def save_schema(schema: pa.DataFrameSchema, path: str | Path) -> Path:
    """Write `schema` as pandera YAML (custom checks are kept by name only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_text(schema.to_yaml() or "", encoding="utf-8")
    return path


def _feature_from_column(name: str, column: pa.Column) -> FeatureSpec:
    """A feature from a schema column alone: categories from `isin`, else a number (a schema
    read back from YAML keeps its built-in checks but not the dtype check)."""
    stats = _check_statistics(column)
    categories = stats.get("isin.allowed_values")
    if categories is not None:
        cats = tuple(str(c) for c in categories)
        return FeatureSpec(name, FeatureKind.CATEGORICAL, cats, nullable=bool(column.nullable))
    integer = any(check.name == "whole_numbers" for check in column.checks)
    kind = FeatureKind.INTEGER if integer else FeatureKind.NUMERIC
    return FeatureSpec(name, kind, nullable=bool(column.nullable))


def _check_statistics(column: pa.Column) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    for check in column.checks:
        stats.update({f"{check.name}.{k}": v for k, v in (check.statistics or {}).items()})
    return stats


def features_from_schema(
    schema: pa.DataFrameSchema,
    features: Sequence[FeatureSpec] | None,
    exclude: Sequence[str] = (),
) -> tuple[FeatureSpec, ...]:
    """The model's features with the schema's categories, ranges and nullability applied.

    With no features (a model saved without a signature), the schema's columns other than
    `exclude` (the label) are the features.
    """
    if features is None:
        features = [
            _feature_from_column(str(name), column)
            for name, column in schema.columns.items()
            if name not in exclude
        ]
    out = []
    for spec in features:
        column = schema.columns.get(spec.name)
        if column is None:
            out.append(spec)
            continue
        stats = _check_statistics(column)
        categories = stats.get("isin.allowed_values")
        minimum = stats.get("in_range.min_value", stats.get("greater_than_or_equal_to.min_value"))
        maximum = stats.get("in_range.max_value", stats.get("less_than_or_equal_to.max_value"))
        out.append(
            FeatureSpec(
                name=spec.name,
                kind=spec.kind,
                categories=tuple(str(c) for c in categories)
                if categories is not None and spec.kind is FeatureKind.CATEGORICAL
                else spec.categories,
                minimum=float(minimum) if minimum is not None else spec.minimum,
                maximum=float(maximum) if maximum is not None else spec.maximum,
                nullable=bool(column.nullable),
            )
        )
    return tuple(out)
