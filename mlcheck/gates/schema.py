"""The schema gate: a pandera schema checked lazily, every violation grouped and counted.

The schema itself (from the policy's file, or inferred from the reference) comes from
`mlcheck.schema`; this module only judges a frame against it.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.schema import MISSING_COLUMN, ViolationGroup, violation_groups

__all__ = ["schema_gate", "violations_gate"]


def _describe(group: ViolationGroup) -> str:
    if group["check"] == MISSING_COLUMN:
        return f"{group['column']}: {MISSING_COLUMN}"
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
    return violations_gate(violation_groups(frame, schema), len(frame), schema, name)


def violations_gate(
    groups: list[ViolationGroup], rows: int, schema: pa.DataFrameSchema, name: str = "schema.inputs"
) -> GateResult:
    """The schema gate from violation groups (`violation_groups` of one frame, or merged over
    partitions by `merge_violation_groups`)."""
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
        details={"groups": groups, "rows": rows, "schema": schema.name or ""},
    )
