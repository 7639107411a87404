"""Data-quality gates on the current data, measured against the reference where it matters:
missing values, outliers, duplicate rows, constant columns and categories never seen before."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mlcheck.policy import DataQualityPolicy
from mlcheck.results import Comparison, GateResult, Outcome

__all__ = ["DATA_QUALITY_CHECKS", "data_quality_gates"]

#: The checks `data_quality_gates` returns, as `data_quality.<check>`, in this order.
DATA_QUALITY_CHECKS = ("missing", "outliers", "duplicates", "constant", "new_categories")


def _worst_rate_gate(
    name: str, metric: str, rates: pd.Series, threshold: float, what: str
) -> GateResult:
    """One gate per check: the worst column decides, every failing column is named."""
    if rates.empty:
        return GateResult(name, Outcome.SKIP, metric, reason=f"no column to check for {what}")
    worst = str(rates.idxmax())
    failing = rates[rates > threshold].sort_values(ascending=False)
    reason = ", ".join(f"{c} {r:.1%}" for c, r in failing.items())
    return GateResult(
        name=name,
        outcome=Outcome.FAIL if len(failing) else Outcome.PASS,
        metric=metric,
        value=float(rates.max()),
        threshold=threshold,
        comparison=Comparison.LE,
        reason=f"{what} over the limit: {reason}" if reason else f"worst column: {worst}",
        details={"per_column": {str(k): float(v) for k, v in rates.items()}},
    )


def _numeric(frame: pd.DataFrame, column: str) -> bool:
    return bool(
        pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
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
    results = [
        _worst_rate_gate(
            "data_quality.missing",
            "worst missing rate",
            current[names].isna().mean(),
            policy.max_missing_rate,
            "missing values",
        )
    ]

    outlier_rates = {}
    q = policy.outlier_quantile
    for column in names:
        if not (_numeric(reference, column) and _numeric(current, column)):
            continue
        low, high = np.nanquantile(reference[column].to_numpy(dtype=np.float64), [q, 1.0 - q])
        values = current[column].to_numpy(dtype=np.float64)
        present = ~np.isnan(values)
        outside = (values < low) | (values > high)
        outlier_rates[column] = float(outside[present].mean()) if present.any() else 0.0
    results.append(
        _worst_rate_gate(
            "data_quality.outliers",
            "worst outlier rate",
            pd.Series(outlier_rates, dtype=float),
            policy.max_outlier_rate,
            f"values outside the reference's [{q:g}, {1 - q:g}] quantiles",
        )
    )

    duplicates = float(current[names].duplicated().mean()) if names else 0.0
    results.append(
        GateResult.judged(
            "data_quality.duplicates",
            "duplicate row rate",
            duplicates,
            policy.max_duplicate_rate,
            Comparison.LE,
        )
    )

    constant = [
        c
        for c in names
        if current[c].nunique(dropna=False) <= 1 < reference[c].nunique(dropna=False)
    ]
    results.append(
        GateResult(
            name="data_quality.constant",
            outcome=Outcome.PASS if not constant or policy.allow_constant_columns else Outcome.FAIL,
            metric="constant columns",
            value=float(len(constant)),
            threshold=0.0,
            comparison=Comparison.EQ,
            reason=f"constant now, varied in the reference: {', '.join(constant)}"
            if constant
            else "",
            details={"columns": constant},
        )
    )

    new: dict[str, list[str]] = {}
    new_rows = 0
    for column in names:
        if _numeric(reference, column):
            continue
        seen = set(reference[column].dropna().astype(str).unique())
        labels: pd.Series = current[column].dropna().astype(str)
        unseen = ~labels.isin(seen)
        if unseen.any():
            new[column] = sorted(labels[unseen].unique().tolist())[:10]
            new_rows += int(unseen.sum())
    reason = "; ".join(f"{c}: {', '.join(map(repr, v[:5]))}" for c, v in new.items())
    results.append(
        GateResult(
            name="data_quality.new_categories",
            outcome=Outcome.PASS if not new or policy.allow_new_categories else Outcome.FAIL,
            metric="rows with unseen categories",
            value=float(new_rows),
            threshold=0.0,
            comparison=Comparison.EQ,
            reason=reason,
            details={"new": new},
        )
    )
    return results
