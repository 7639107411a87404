"""Data-quality gates on the current data, measured against the reference where it matters:
missing values, outliers, duplicate rows, constant columns and categories never seen before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcheck.policy import DataQualityPolicy
from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.stats.intervals import clopper_pearson

__all__ = ["DATA_QUALITY_CHECKS", "data_quality_gates"]

#: The checks `data_quality_gates` returns, as `data_quality.<check>`, in this order.
DATA_QUALITY_CHECKS = ("missing", "outliers", "duplicates", "constant", "new_categories")


#: A rate over its limit blocks only when its exact lower bound is over the limit too, at
#: this one-sided level shared by the columns checked (Bonferroni): on small samples a
#: clean current set is over a limit by chance (8 of 100 clean splits of a 178-row data set
#: had one column of 13 with over 10% values outside the reference's range), and says so.
RATE_ALPHA = 0.05


def _worst_rate_gate(
    name: str, metric: str, counts: pd.Series, rows: pd.Series, threshold: float, what: str
) -> GateResult:
    """One gate per check: the worst column decides, every column over the limit is named.

    `counts` of `rows` per column: a column FAILs when its Clopper-Pearson lower bound (at
    one-sided RATE_ALPHA / columns) is over the limit, so the rate is over it beyond chance;
    over the limit within chance is a WARN that says so."""
    if counts.empty:
        return GateResult(name, Outcome.SKIP, metric, reason=f"no column to check for {what}")
    rates = (counts / rows.clip(lower=1)).astype(float)
    worst = str(rates.idxmax())
    confidence = 1 - 2 * RATE_ALPHA / len(rates)
    over = rates[rates > threshold].sort_values(ascending=False)
    bounds = {
        str(c): clopper_pearson(float(counts[c]), float(rows[c]), confidence)[0] for c in over.index
    }
    failing = [c for c in over.index if bounds[str(c)] > threshold]
    outcome = Outcome.FAIL if failing else Outcome.WARN if len(over) else Outcome.PASS
    if failing:
        named = ", ".join(f"{c} {rates[c]:.1%}" for c in failing)
        reason = f"{what} over the limit: {named}"
    elif len(over):
        named = ", ".join(
            f"{c} {rates[c]:.1%} ({counts[c]:.0f} of {rows[c]:.0f} rows, at least "
            f"{bounds[str(c)]:.1%})"
            for c in over.index
        )
        reason = f"{what} over the limit within chance: {named}; more rows would decide"
    else:
        reason = f"worst column: {worst}" if len(rates) > 1 else ""
    return GateResult(
        name=name,
        outcome=outcome,
        metric=metric,
        value=float(rates.max()),
        threshold=threshold,
        comparison=Comparison.LE,
        reason=reason,
        details={
            "per_column": {str(k): float(v) for k, v in rates.items()},
            "lower_bounds": bounds,
            "confidence": confidence,
            "interval": "clopper-pearson",
        },
    )


def _numeric(frame: pd.DataFrame, column: str) -> bool:
    return bool(
        pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
    )


def _unseen(reference: pd.Series, current: pd.Series) -> tuple[list[str], int]:
    """The current values the reference never had (compared as text; the first ten, sorted)
    and the rows holding them. Each distinct value is turned to text once, not each row (at
    1,000,000 rows: 0.05 s instead of 1.7 s for the demo's eight text columns)."""
    seen = {str(v) for v in pd.unique(reference.dropna())}
    values = current.dropna()
    unseen = [v for v in pd.unique(values) if str(v) not in seen]
    if not unseen:
        return [], 0
    return sorted({str(v) for v in unseen})[:10], int(values.isin(unseen).sum())


def _unexpected_gate(
    check: str, metric: str, count: float, allowed: bool, reason: str, details: dict[str, Any]
) -> GateResult:
    """A gate on a count that should be 0: FAIL when it is not, unless the policy allows it."""
    return GateResult(
        name=f"data_quality.{check}",
        outcome=Outcome.PASS if not count or allowed else Outcome.FAIL,
        metric=metric,
        value=float(count),
        threshold=0.0,
        comparison=Comparison.EQ,
        reason=reason,
        details=details,
    )


def _missing_gate(current: pd.DataFrame, names: list[str], policy: DataQualityPolicy) -> GateResult:
    return _worst_rate_gate(
        "data_quality.missing",
        "worst missing rate",
        current[names].isna().sum(),
        pd.Series(len(current), index=names, dtype=float),
        policy.max_missing_rate,
        "missing values",
    )


def _outlier_gate(
    reference: pd.DataFrame, current: pd.DataFrame, names: list[str], policy: DataQualityPolicy
) -> GateResult:
    """The rates of present values outside the reference's quantile range, per column
    numeric in both frames."""
    outliers, present_rows = {}, {}
    q = policy.outlier_quantile
    for column in names:
        if not (_numeric(reference, column) and _numeric(current, column)):
            continue
        low, high = np.nanquantile(reference[column].to_numpy(dtype=np.float64), [q, 1.0 - q])
        values = current[column].to_numpy(dtype=np.float64)
        present = ~np.isnan(values)
        outside = (values < low) | (values > high)
        outliers[column], present_rows[column] = int(outside[present].sum()), int(present.sum())
    return _worst_rate_gate(
        "data_quality.outliers",
        "worst outlier rate",
        pd.Series(outliers, dtype=float),
        pd.Series(present_rows, dtype=float),
        policy.max_outlier_rate,
        f"values outside the reference's [{q:g}, {1 - q:g}] quantiles",
    )


def _duplicate_gate(
    current: pd.DataFrame, names: list[str], policy: DataQualityPolicy
) -> GateResult:
    duplicated = float(current[names].duplicated().sum()) if names else 0.0
    return _worst_rate_gate(
        "data_quality.duplicates",
        "duplicate row rate",
        pd.Series({"rows": duplicated}),
        pd.Series({"rows": float(len(current))}),
        policy.max_duplicate_rate,
        "duplicate rows",
    )


def _constant_gate(
    reference: pd.DataFrame, current: pd.DataFrame, names: list[str], policy: DataQualityPolicy
) -> GateResult:
    """Columns with one value now that had several in the reference."""
    constant = [
        c
        for c in names
        if current[c].nunique(dropna=False) <= 1 < reference[c].nunique(dropna=False)
    ]
    return _unexpected_gate(
        "constant",
        "constant columns",
        len(constant),
        policy.allow_constant_columns,
        f"constant now, varied in the reference: {', '.join(constant)}" if constant else "",
        {"columns": constant},
    )


def _new_category_gate(
    reference: pd.DataFrame, current: pd.DataFrame, names: list[str], policy: DataQualityPolicy
) -> GateResult:
    """Rows of the columns not numeric in the reference holding values it never had."""
    new: dict[str, list[str]] = {}
    new_rows = 0
    for column in names:
        if _numeric(reference, column):
            continue
        shown, rows = _unseen(reference[column], current[column])
        if rows:
            new[column], new_rows = shown, new_rows + rows
    return _unexpected_gate(
        "new_categories",
        "rows with unseen categories",
        new_rows,
        policy.allow_new_categories,
        "; ".join(f"{c}: {', '.join(map(repr, v[:5]))}" for c, v in new.items()),
        {"new": new},
    )


def data_quality_gates(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    policy: DataQualityPolicy,
    columns: Sequence[str] | None = None,
) -> list[GateResult]:
    """Missing, outlier and duplicate rates, constant columns and new categories.

    Columns missing from either frame are left to the schema gate; only shared ones count.
    """
    names = [
        c for c in (columns or current.columns) if c in current.columns and c in reference.columns
    ]
    if current.empty:
        reason = "the current data has no rows; pass labelled rows with --current"
        return [GateResult.error(f"data_quality.{check}", reason) for check in DATA_QUALITY_CHECKS]
    return [
        _missing_gate(current, names, policy),
        _outlier_gate(reference, current, names, policy),
        _duplicate_gate(current, names, policy),
        _constant_gate(reference, current, names, policy),
        _new_category_gate(reference, current, names, policy),
    ]
