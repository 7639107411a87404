"""The schema gate: a pandera schema checked lazily, every violation grouped and counted.

The schema itself (from the policy's file, or inferred from the reference) comes from
`mlcheck.schema`; this module only judges a frame against it.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from mlcheck.results import Comparison, GateResult, Outcome

__all__ = ["schema_gate"]

_EXAMPLES = 5
_MISSING = "column is missing"


def _groups(cases: pd.DataFrame, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Failure cases grouped by column and check, structural problems first.

    When a column is not numeric at all, its range checks only repeat that (as TypeErrors),
    so they are folded into the one structural problem.
    """
    groups = []
    cases = cases.assign(column=cases["column"].fillna("<frame>").astype(str))
    not_numeric = set(cases.loc[cases["check"].astype(str) == "numeric_dtype", "column"])
    for (column, check), rows in cases.groupby(["column", "check"], sort=False):
        check = "not an allowed category" if str(check).startswith("isin(") else str(check)
        if column in not_numeric and check != "numeric_dtype":
            continue
        if check == "column_in_dataframe":
            for missing in rows["failure_case"].dropna().astype(str).unique():
                groups.append(
                    {"column": missing, "check": _MISSING, "count": 1, "examples": [], "rows": []}
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
                "column": column,
                "check": check,
                "count": len(rows),
                "examples": examples,
                "rows": index,
            }
        )
    groups.sort(key=lambda g: (g["check"] not in (_MISSING, "numeric_dtype"), -g["count"]))
    return groups


def _describe(group: dict[str, Any]) -> str:
    if group["check"] == _MISSING:
        return f"{group['column']}: {_MISSING}"
    if group["check"] == "numeric_dtype":
        dtype, *values = group["examples"] or ["dtype ?"]
        return f"{group['column']}: not numeric ({dtype}, e.g. {', '.join(map(repr, values))})"
    examples = ", ".join(map(repr, group["examples"][:3]))
    return f"{group['column']}: {group['check']} ({group['count']} rows" + (
        f", e.g. {examples})" if examples else ")"
    )


def schema_gate(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, name: str = "schema.inputs"
) -> GateResult:
    """Validate lazily: FAIL with every violation grouped by column and check, counted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            schema.validate(frame, lazy=True)
            groups: list[dict[str, Any]] = []
        except SchemaErrors as exc:
            groups = _groups(exc.failure_cases, frame)
        except SchemaError as exc:  # raised eagerly by some frame-level checks
            groups = [
                {
                    "column": str(exc.schema.name),
                    "check": str(exc.check),
                    "count": 1,
                    "examples": [],
                    "rows": [],
                }
            ]
    violations = sum(g["count"] for g in groups)
    reason = "; ".join(_describe(g) for g in groups[:4])
    if len(groups) > 4:
        reason += f"; and {len(groups) - 4} more (see details)"
    return GateResult(
        name=name,
        outcome=Outcome.PASS if not groups else Outcome.FAIL,
        metric="violations",
        value=float(violations),
        threshold=0.0,
        comparison=Comparison.EQ,
        reason=reason,
        details={"groups": groups, "rows": len(frame), "schema": schema.name or ""},
    )
