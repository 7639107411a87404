"""Mergeable summaries of a drift column, one per partition, for data no machine holds whole.

Each partition of each frame is reduced to a sketch; sketches merge by addition, in any order,
and the merged pair becomes the same `ColumnData` the in-memory engine builds, so the tests of
`mlcheck.stats.drift` decide both engines' drift:

- categorical columns: the count per value (exact);
- numeric columns with at most `EXACT_VALUES` distinct values over all partitions: the count
  per value (exact: every test gives what it gives in memory);
- other numeric columns: a second pass counts rows per fine bin (edges at quantiles of both
  frames pooled from the partitions' sorted samples) and per Sturges bin (JS, PSI and KL: exact).
  KS and Wasserstein then come with the range their exact value lies in (`ColumnDrift.bound`);
  the count-per-value tests (chi-square, Z) refuse such a column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mlcheck.features import ColumnKind
from mlcheck.stats.drift import (
    Binned,
    ColumnData,
    _category_counts,
    _check_rows,
    _Counts,
    _is_integer,
    _merge,
    _numeric_values,
    _runs,
    _sorted_copy,
    _sorted_histogram,
    _sturges_edges,
    category_table,
)
from mlcheck.stats.moments import Moments

__all__ = [
    "EXACT_VALUES",
    "FINE_BINS",
    "BinCounts",
    "BinPlan",
    "CategorySketch",
    "NumericSketch",
    "Sketch",
    "bin_counts",
    "bin_plan",
    "merged_column",
    "sketch",
]

#: A numeric column keeps its exact count per value up to this many distinct values.
EXACT_VALUES = 10_000
#: Points of each partition's sorted sample kept to place the fine bins' edges.
QUANTILE_POINTS = 1025
#: Fine bins of a numeric column that is binned (at quantiles of both frames).
FINE_BINS = 8192


@dataclass(frozen=True)
class CategorySketch:
    counts: pd.Series  # rows per observed value

    def merge(self, other: CategorySketch) -> CategorySketch:
        return CategorySketch(self.counts.add(other.counts, fill_value=0).astype(np.int64))


@dataclass(frozen=True)
class NumericSketch:
    """Rows, range, moments, the count per value while there are few, and sample points."""

    rows: int
    integer: bool
    low: float
    high: float
    moments: Moments
    keys: np.ndarray | None  # sorted distinct values (float64), None past EXACT_VALUES
    counts: np.ndarray | None
    samples: tuple[tuple[np.ndarray, int], ...]  # (sorted points, rows they stand for)

    def merge(self, other: NumericSketch) -> NumericSketch:
        integer = self.integer and other.integer
        if other.rows == 0 or self.rows == 0:  # an empty partition changes only the type
            return replace(self if self.rows else other, integer=integer)
        keys = counts = None
        if self.keys is not None and other.keys is not None:
            assert self.counts is not None and other.counts is not None
            union, mine, theirs = _merge(self.keys, self.counts, other.keys, other.counts)
            if len(union) <= EXACT_VALUES:
                keys, counts = union, mine + theirs
        return NumericSketch(
            self.rows + other.rows,
            integer,
            min(self.low, other.low),
            max(self.high, other.high),
            self.moments.merge(other.moments),
            keys,
            counts,
            self.samples + other.samples,
        )


Sketch = CategorySketch | NumericSketch


def sketch(series: pd.Series, kind: ColumnKind, column: str, frame: str) -> Sketch:
    """One partition's summary of `series` (nulls and +-inf left out, as in memory)."""
    if kind != "numeric":
        table = _category_counts(series)
        table.index = pd.Index(table.index.to_numpy())
        return CategorySketch(table.astype(np.int64))
    values = _sorted_copy(_numeric_values(series, column, frame))
    integer = _is_integer(series)
    n = len(values)
    if n == 0:
        empty = np.empty(0)
        return NumericSketch(0, integer, np.inf, -np.inf, Moments.of(empty), empty,
                             np.empty(0, np.int64), ())  # fmt: skip
    keys, counts = _runs(values)
    exact = len(keys) <= EXACT_VALUES
    points = values[np.linspace(0, n - 1, min(n, QUANTILE_POINTS)).round().astype(np.int64)]
    return NumericSketch(
        n,
        integer,
        float(values[0]),
        float(values[-1]),
        Moments.of(values),
        keys.astype(np.float64) if exact else None,
        counts.astype(np.int64) if exact else None,
        ((points, n),),
    )


@dataclass(frozen=True)
class BinPlan:
    """The edges a binned numeric column is counted on in the second pass."""

    fine: np.ndarray
    sturges: np.ndarray


@dataclass(frozen=True)
class BinCounts:
    fine: np.ndarray
    sturges: np.ndarray

    def merge(self, other: BinCounts) -> BinCounts:
        return BinCounts(self.fine + other.fine, self.sturges + other.sturges)


def _pooled_quantiles(samples: tuple[tuple[np.ndarray, int], ...], bins: int) -> np.ndarray:
    """`bins + 1` quantiles of the pooled partitions, each sample point weighted by the rows
    it stands for (the edges need only be near quantiles: the counts in them are exact)."""
    points = np.concatenate([p for p, _ in samples])
    weights = np.concatenate([np.full(len(p), rows / len(p)) for p, rows in samples])
    order = np.argsort(points, kind="stable")
    cumulative = np.cumsum(weights[order])
    targets = np.linspace(0, cumulative[-1], bins + 1)
    picks = np.minimum(np.searchsorted(cumulative, targets), len(points) - 1)
    return points[order][picks]


def _exact_table(reference: NumericSketch, current: NumericSketch) -> _Counts | None:
    """Both frames' count per value, while there are at most `EXACT_VALUES` values."""
    if reference.counts is None or current.counts is None:
        return None
    assert reference.keys is not None and current.keys is not None
    table = _Counts(*_merge(reference.keys, reference.counts, current.keys, current.counts))
    return table if len(table.keys) <= EXACT_VALUES else None


def bin_plan(reference: NumericSketch, current: NumericSketch, column: str) -> BinPlan | None:
    """The edges to count a numeric column on, or None when both frames' values are counted."""
    _check_rows(column, reference.rows, current.rows)
    if _exact_table(reference, current) is not None:
        return None
    low, high = min(reference.low, current.low), max(reference.high, current.high)
    inner = _pooled_quantiles(reference.samples + current.samples, FINE_BINS)
    fine = np.unique(np.concatenate(([low], inner, [high])))
    integer = reference.integer and current.integer
    sturges = _sturges_edges(low, high, reference.rows + current.rows, integer)
    return BinPlan(fine, sturges)


def bin_counts(series: pd.Series, plan: BinPlan, column: str, frame: str) -> BinCounts:
    """One partition's rows per bin of `plan` (as `np.histogram` counts them)."""
    values = _sorted_copy(_numeric_values(series, column, frame))
    return BinCounts(_sorted_histogram(values, plan.fine), _sorted_histogram(values, plan.sturges))


def merged_column(
    kind: ColumnKind,
    reference: Sketch,
    current: Sketch,
    column: str,
    binned: tuple[BinPlan, BinCounts, BinCounts] | None = None,
) -> ColumnData:
    """The merged sketches of both frames (and, for a binned column, its plan and the merged
    bin counts of both) as the column the drift tests take."""
    if isinstance(reference, CategorySketch) and isinstance(current, CategorySketch):
        return category_table(reference.counts, current.counts, column)
    assert isinstance(reference, NumericSketch) and isinstance(current, NumericSketch)
    _check_rows(column, reference.rows, current.rows)
    integer = reference.integer and current.integer
    if binned is None:
        table = _exact_table(reference, current)
        if table is None:
            raise ValueError(f"column {column!r} is binned: pass its plan and bin counts")
        return ColumnData(True, integer, counts=table)
    plan, ref_bins, cur_bins = binned
    return ColumnData(
        True,
        integer,
        binned=Binned(
            edges=plan.fine,
            reference=ref_bins.fine,
            current=cur_bins.fine,
            sturges_reference=ref_bins.sturges,
            sturges_current=cur_bins.sturges,
            reference_std=reference.moments.std,
        ),
    )
