"""Per-column drift statistics that reproduce Evidently 0.7's data-drift tests, vectorised.

Evidently (legacy `stattests`, reached through `DataDriftPreset` -> `ValueDrift`) is the oracle:
the same default test per column, the same thresholds, the same strict or non-strict verdict
comparison and the same binning, so `statistic` equals Evidently's `drift_score` to rounding.

Every test depends only on how often each distinct value occurs in each frame, so a column is
reduced once, in the cheapest form that serves its tests:

- categorical columns: one `value_counts` per frame, aligned on the union of observed values;
- integer columns whose range is modest: one `np.bincount` per frame (no sort at all);
- other numeric columns: one sorted float64 copy per frame; a count table over the union of
  values is built from the two sorted arrays (a run-length pass and one `searchsorted` merge)
  only for a test that needs it.

The tests then work on the table or the sorted arrays, never per row in Python:

- Kolmogorov-Smirnov: the CDFs are cumulative sums of the counts; the p-value is scipy's
  (`ks_2samp` itself up to 10,000 rows per side, where scipy may compute it exactly, and above
  that scipy's asymptotic `kstwo` formula on the same statistic, as `ks_2samp` does).
- Wasserstein (normed): the integral of |F_ref - F_cur| over the distinct values (tables) or of
  |Q_ref - Q_cur| over the quantile grid (sorted arrays), divided by max(std(reference), 0.001)
  with the population std (ddof=0), as Evidently does.
- Jensen-Shannon, PSI, Kullback-Leibler: shares per distinct value or, for numeric columns with
  more than 20 distinct reference values, per bin of numpy's Sturges edges over both frames.
- Chi-square and Z: scipy's `chisquare` on the counts; the two-proportion Z-test on the share of
  the smallest value against all others.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from mlcheck.errors import ConfigError, DataError
from mlcheck.features import ColumnKind
from mlcheck.stats.catalogue import KINDS, METHODS, MethodSpec

__all__ = [
    "Binned",
    "ColumnData",
    "ColumnDrift",
    "Detectable",
    "DriftRule",
    "Effect",
    "category_table",
    "column_data",
    "column_drift",
    "columns_drift",
    "dataset_drift",
    "default_method",
    "detectable_shift",
    "effect_size",
    "frame_drift",
]


#: Evidently's small-sample family (KS, chi-square, Z) applies up to this many reference rows.
SMALL_REFERENCE_ROWS = 1000
#: Numeric columns with at most this many distinct values (both frames) count as discrete.
DISCRETE_VALUES = 5
#: Numeric columns with more distinct reference values are binned for PSI, KL and JS.
BINNED_REFERENCE_VALUES = 20
#: scipy's `ks_2samp(method="auto")` computes the exact p-value up to this many rows per side.
EXACT_KS_ROWS = 10_000
#: Integer columns are counted with bincount when their range is at most this many values or
#: half the rows of both frames, so the two count arrays never outweigh the column itself.
_BINCOUNT_MIN_RANGE = 1 << 10


class DriftRule(Protocol):
    """A column's own test and threshold (None keeps Evidently's default for either)."""

    @property
    def method(self) -> str | None: ...

    @property
    def threshold(self) -> float | None: ...


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift test. `fdr_p_value` is set only by `frame_drift(..., fdr=True)`."""

    column: str
    kind: ColumnKind
    method: str
    statistic: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    fdr_p_value: float | None = None
    #: Of a statistic computed from binned partitions (`Binned`): the range the exact value
    #: lies in; the verdict is taken on its end toward drift. None: the value is exact.
    bound: tuple[float, float] | None = None
    #: Of a p-value test judged with effect floors: the shift's size (`effect_size`), the floor
    #: it had to reach to count as drift, and the smallest shift the test finds (`detectable`).
    effect: Effect | None = None
    #: How many p-value tests were adjusted together (1: judged alone).
    family_size: int = 1


@dataclass(frozen=True)
class Effect:
    """A shift's size whatever test judged it, the floor it must reach to count as drift,
    and the power of the test: the smallest shift it finds at the level it is judged at."""

    method: str  # wasserstein (in reference standard deviations) or jensenshannon
    value: float
    floor: float
    detectable: Detectable | None


@dataclass(frozen=True)
class Detectable:
    """The smallest shift the test finds about half the time at its level: a location shift
    of a normal column in standard deviations (`sd`), or a share moved by `share` (0.15 is 15
    points). Under-powered when it is larger than `target`."""

    size: float
    unit: str
    target: float

    @property
    def underpowered(self) -> bool:
        return not self.size <= self.target


@dataclass(frozen=True)
class _Counts:
    """Distinct non-null values of both frames and how often each occurs in each frame."""

    keys: np.ndarray  # numeric: sorted float64; categorical: the observed values
    reference: np.ndarray  # int64, aligned with keys
    current: np.ndarray


@dataclass(frozen=True)
class Binned:
    """A numeric column summarised over partitions too large to hold: exact row counts per
    fine bin of both frames (`edges`, bins [e_i, e_i+1), the last closed), exact counts per
    Sturges bin over both frames (what JS, PSI and KL use, as in memory), and the reference's
    exact population std. The edges run from the smallest value to the largest."""

    edges: np.ndarray
    reference: np.ndarray
    current: np.ndarray
    sturges_reference: np.ndarray
    sturges_current: np.ndarray
    reference_std: float


def _distinct(ordered: np.ndarray) -> int:
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


class _Column:
    """One column's non-null values in both frames, in the form that was cheapest to get.

    Categorical columns and integer columns of modest range start as a count table; other
    numeric columns start as two sorted float64 arrays and build the table only for a test that
    needs it (KS, chi-square, Z, or shares per value). A numeric column of partitioned data with
    too many distinct values to count is `Binned`: KS and Wasserstein come with a bound, the
    binned shares are exact, and the per-value tests refuse it.
    """

    def __init__(
        self,
        numeric: bool,
        integer: bool,
        counts: _Counts | None = None,
        ordered: tuple[np.ndarray, np.ndarray] | None = None,
        binned: Binned | None = None,
    ) -> None:
        self.numeric = numeric
        self.integer = integer  # both frames integer-typed: numpy's Sturges widths are >= 1
        self._counts = counts
        self.ordered = ordered
        self.binned = binned
        if ordered is not None:
            self.reference_rows, self.current_rows = len(ordered[0]), len(ordered[1])
        elif binned is not None:
            self.reference_rows = int(binned.reference.sum())
            self.current_rows = int(binned.current.sum())
        elif counts is not None:
            self.reference_rows = int(counts.reference.sum())
            self.current_rows = int(counts.current.sum())
        else:
            raise ValueError("a column needs counts or sorted values")

    def counts(self) -> _Counts:
        if self._counts is None and self.binned is not None:
            raise DataError(
                "the test needs every distinct value, but the partitioned data has too many "
                "to count; use ks, wasserstein, jensenshannon, psi or kl_div for this column"
            )
        if self._counts is None:
            assert self.ordered is not None
            ref, cur = self.ordered
            self._counts = _Counts(*_merge(*_runs(ref), *_runs(cur)))
        return self._counts

    def distinct(self, limit: int) -> int:
        """Distinct values of both frames together; exact up to `limit`, else `limit + 1`."""
        if self.binned is not None:  # binned only when there are far more than any limit
            return limit + 1
        ordered = self.ordered if self._counts is None else None
        if ordered is not None and max(_distinct(values) for values in ordered) > limit:
            return limit + 1
        return len(self.counts().keys)

    def reference_distinct(self) -> int:
        if self.binned is not None:
            return BINNED_REFERENCE_VALUES + 1
        if self.ordered is not None:
            return _distinct(self.ordered[0])
        return int(np.count_nonzero(self.counts().reference))

    def sorted_values(self) -> tuple[np.ndarray, np.ndarray]:
        if self.ordered is not None:
            return self.ordered
        table = self.counts()
        return np.repeat(table.keys, table.reference), np.repeat(table.keys, table.current)

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value of both frames (numeric columns)."""
        if self.binned is not None:
            return float(self.binned.edges[0]), float(self.binned.edges[-1])
        if self.ordered is not None:
            ref, cur = self.ordered
            return float(min(ref[0], cur[0])), float(max(ref[-1], cur[-1]))
        keys = self.counts().keys
        return float(keys[0]), float(keys[-1])


#: A column of both frames reduced for the tests (public name for the other engines).
ColumnData = _Column


# --------------------------------------------------------------------------- input checks


def _known() -> str:
    return ", ".join(METHODS)


def _check_kind(column: str, kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(
            f"column {column!r}: kind={kind!r} is unknown; use 'numeric' or 'categorical'"
        )


def _check_method(column: str, kind: ColumnKind, method: str) -> MethodSpec:
    spec = METHODS.get(method)
    if spec is None:
        raise ConfigError(
            f"column {column!r}: method={method!r} is unknown; known: {_known()} "
            "(or leave it unset for Evidently's default)"
        )
    if kind not in spec.kinds:
        usable = ", ".join(name for name, s in METHODS.items() if kind in s.kinds)
        raise ConfigError(
            f"column {column!r}: method={method!r} does not apply to {kind} columns; "
            f"use one of: {usable}"
        )
    return spec


def _check_threshold(column: str, threshold: float | None) -> None:
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise ConfigError(f"column {column!r}: threshold={threshold!r} must be a number")
    if not math.isfinite(float(threshold)) or threshold < 0:
        raise ConfigError(
            f"column {column!r}: threshold={threshold!r} must be a finite number >= 0"
        )


# --------------------------------------------------------------------------- counting


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs."""
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def _merge(
    a_keys: np.ndarray, a_counts: np.ndarray, b_keys: np.ndarray, b_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of two sorted distinct-value arrays, with both count vectors aligned to it.

    One searchsorted places every `a` value among the `b` values; the positions of the values
    found only in `b` follow from a cumulative count of those placements (no second search).
    """
    size_b = len(b_keys)
    below = np.searchsorted(b_keys, a_keys, side="left")  # b values strictly below each a value
    shared = below < size_b
    shared[shared] = b_keys[below[shared]] == a_keys[shared]
    b_shared = np.zeros(size_b, dtype=bool)
    b_shared[below[shared]] = True
    b_only = ~b_shared
    b_only_before = np.concatenate(([0], np.cumsum(b_only)))  # b-only values among b[:j]
    a_pos = np.arange(len(a_keys)) + b_only_before[below]
    # a values strictly below a b-only value b[j] are exactly those with below <= j.
    a_below_b = np.cumsum(np.bincount(below, minlength=size_b + 1))[:size_b]
    b_index = np.flatnonzero(b_only)
    b_pos = a_below_b[b_index] + b_only_before[b_index]
    size = len(a_keys) + len(b_index)
    keys = np.empty(size, dtype=np.float64)
    keys[a_pos] = a_keys
    keys[b_pos] = b_keys[b_index]
    a_out = np.zeros(size, dtype=np.int64)
    a_out[a_pos] = a_counts
    b_out = np.zeros(size, dtype=np.int64)
    b_out[a_pos[shared]] = b_counts[below[shared]]
    b_out[b_pos] = b_counts[b_index]
    return keys, a_out, b_out


def _is_integer(series: pd.Series) -> bool:
    dtype = getattr(series.dtype, "numpy_dtype", series.dtype)
    return isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype != np.uint64


def _numeric_values(series: pd.Series, column: str, frame: str) -> np.ndarray:
    """Non-null values as int64-compatible integers or finite float64, copied only if needed.

    Evidently turns +-inf into nulls before dropping nulls, so infinities are dropped too.
    """
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise DataError(
            f"column {column!r}: declared numeric but the {frame} data has dtype "
            f"{series.dtype}; declare it categorical or convert it to numbers"
        )
    numpy_backed = isinstance(series.dtype, np.dtype)
    if _is_integer(series):
        return series.to_numpy() if numpy_backed else series.dropna().to_numpy(dtype=np.int64)
    if numpy_backed:  # NaN is already NaN: no need for pandas' copying na_value
        values = series.to_numpy(dtype=np.float64, copy=False)
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    return values if finite.all() else values[finite]


def _sorted_copy(values: np.ndarray) -> np.ndarray:
    """A sorted float64 copy (never a view: the caller's frame is left as it was)."""
    if values.dtype == np.float64:
        return np.sort(values)
    out = values.astype(np.float64)
    out.sort()
    return out


def _check_rows(column: str, reference_rows: int, current_rows: int) -> None:
    for frame, rows in (("reference", reference_rows), ("current", current_rows)):
        if rows == 0:
            raise DataError(
                f"column {column!r}: the {frame} data has no non-null values; drop the "
                "column from the drift check or fix the data"
            )


def _numeric_column(reference: pd.Series, current: pd.Series, column: str) -> _Column:
    ref = _numeric_values(reference, column, "reference")
    cur = _numeric_values(current, column, "current")
    _check_rows(column, len(ref), len(cur))
    integer = _is_integer(reference) and _is_integer(current)
    if integer:
        low = min(int(ref.min()), int(cur.min()))
        span = max(int(ref.max()), int(cur.max())) - low + 1
        if span <= max(_BINCOUNT_MIN_RANGE, (len(ref) + len(cur)) // 2):
            ref_counts = np.bincount(ref.astype(np.int64, copy=False) - low, minlength=span)
            cur_counts = np.bincount(cur.astype(np.int64, copy=False) - low, minlength=span)
            seen = np.flatnonzero((ref_counts > 0) | (cur_counts > 0))
            keys = (seen + low).astype(np.float64)
            return _Column(True, True, counts=_Counts(keys, ref_counts[seen], cur_counts[seen]))
    return _Column(True, integer, ordered=(_sorted_copy(ref), _sorted_copy(cur)))


def _category_counts(series: pd.Series) -> pd.Series:
    """Count per observed non-null value (a Categorical's unused categories are left out)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        series = series[np.isfinite(values)]  # Evidently turns +-inf into nulls first
    counts = series.value_counts(sort=False, dropna=True)
    if isinstance(series.dtype, pd.CategoricalDtype):
        counts = counts[counts.to_numpy() > 0]
        counts.index = pd.Index(counts.index.to_numpy())
    return counts


def _categorical_column(reference: pd.Series, current: pd.Series, column: str) -> _Column:
    return category_table(_category_counts(reference), _category_counts(current), column)


def category_table(ref: pd.Series, cur: pd.Series, column: str) -> _Column:
    """A categorical column from each frame's count per value (merged partition counts too)."""
    _check_rows(column, int(ref.sum()), int(cur.sum()))
    keys = ref.index.union(cur.index, sort=False)
    table = _Counts(
        keys.to_numpy(),
        ref.reindex(keys, fill_value=0).to_numpy(dtype=np.int64),
        cur.reindex(keys, fill_value=0).to_numpy(dtype=np.int64),
    )
    return _Column(False, False, counts=table)


def column_data(reference: pd.Series, current: pd.Series, kind: ColumnKind, column: str) -> _Column:
    """One column of both frames reduced for the tests (nulls and +-inf dropped)."""
    _check_kind(column, kind)
    return _column(reference, current, kind, column)


def _column(reference: pd.Series, current: pd.Series, kind: ColumnKind, column: str) -> _Column:
    if kind == "numeric":
        return _numeric_column(reference, current, column)
    return _categorical_column(reference, current, column)


# --------------------------------------------------------------------------- the tests


def _default_name(data: _Column, kind: ColumnKind) -> str:
    """Evidently's `_get_default_stattest`, on non-null rows and distinct values of both frames,
    with one change: 3+ values in a small sample get the two-sample chi-square, not Evidently's
    goodness-of-fit chi-square (which takes the reference's shares as exact and blocked 21 of
    30 pairs of clean 800-row samples; the two-sample test 2 of 30)."""
    discrete = data.distinct(DISCRETE_VALUES)
    if data.reference_rows <= SMALL_REFERENCE_ROWS:
        if kind == "numeric" and discrete > DISCRETE_VALUES:
            return "ks"
        return "chi2_two_sample" if discrete > 2 else "z"
    if kind == "numeric" and discrete > DISCRETE_VALUES:
        return "wasserstein"
    return "jensenshannon"


def _ks_p_value(statistic: float, n1: int, n2: int) -> float:
    """Two-sided asymptotic p-value of a KS statistic, as `ks_2samp` computes it above 10,000."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(m * n / (m + n))), 0, 1))


def _ks(data: _Column) -> float:
    n1, n2 = data.reference_rows, data.current_rows
    if max(n1, n2) <= EXACT_KS_ROWS:
        with warnings.catch_warnings():
            # scipy falls back to the asymptotic p-value (and says so) when exact fails.
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(stats.ks_2samp(*data.sorted_values()).pvalue)
    # The statistic of ks_2samp (both CDFs evaluated at every observed value) ...
    table = data.counts()
    gaps = np.cumsum(table.reference) / n1 - np.cumsum(table.current) / n2
    max_gap = gaps.max()
    min_gap = np.clip(-gaps.min(), 0, 1)
    statistic = min_gap if min_gap > max_gap else max_gap
    # ... and its two-sided asymptotic p-value, which ks_2samp(method="auto") uses above 10,000.
    return _ks_p_value(float(statistic), n1, n2)


def _earth_moved(ref: np.ndarray, cur: np.ndarray, chunk: int = 1 << 18) -> float:
    """Wasserstein-1 of two sorted samples as the integral of |Q_ref(t) - Q_cur(t)| over t.

    The quantile functions step at i/n and j/m; on the integer grid t * n * m those are i*m and
    j*n, whose merged order is known arithmetically, so no sort or search is needed. The grid is
    walked in slices to bound the temporary memory.
    """
    n, m = len(ref), len(cur)
    step = max(1, chunk * n // (n + m))  # reference steps per slice (about `chunk` grid points)
    total = 0.0
    for i0 in range(0, n, step):
        i1 = min(i0 + step, n)
        low, high = i0 * m, i1 * m
        j0, j1 = -(-low // n), -(-high // n)  # current steps j*n inside [low, high)
        ref_steps = np.arange(i0, i1, dtype=np.int64) * m
        cur_steps = np.arange(j0, j1, dtype=np.int64) * n
        grid = np.empty(len(ref_steps) + len(cur_steps) + 1, dtype=np.int64)
        # Ties put the reference step first; zero-length intervals add nothing.
        grid[np.arange(i1 - i0) + (-(-ref_steps // n) - j0)] = ref_steps
        grid[np.arange(j1 - j0) + (cur_steps // m - i0 + 1)] = cur_steps
        grid[-1] = high
        left = grid[:-1]
        total += float(np.dot(np.diff(grid), np.abs(ref[left // m] - cur[left // n])))
    return total / (n * m)


def _wasserstein(data: _Column) -> float:
    """scipy's wasserstein_distance divided by max(std(reference, ddof=0), 0.001)."""
    n1, n2 = data.reference_rows, data.current_rows
    if data.ordered is not None:
        earth_moved = _earth_moved(*data.ordered)
        std = float(np.std(data.ordered[0]))
    else:
        table = data.counts()
        cdf_gaps = np.abs(np.cumsum(table.reference[:-1]) / n1 - np.cumsum(table.current[:-1]) / n2)
        earth_moved = float(np.dot(cdf_gaps, np.diff(table.keys)))
        mean = np.dot(table.keys, table.reference) / n1
        std = math.sqrt(float(np.dot(table.reference, (table.keys - mean) ** 2)) / n1)
    return earth_moved / max(std, 0.001)


def _chisquare(data: _Column) -> float:
    table = data.counts()
    expected = table.reference * (data.current_rows / data.reference_rows)
    with np.errstate(divide="ignore", invalid="ignore"):  # a value absent from the reference
        return float(stats.chisquare(table.current, expected).pvalue)


def _chi2_two_sample(data: _Column) -> float:
    """Pearson's chi-square test of homogeneity on the 2 x k table of both frames' counts:
    both are samples, so neither's shares are taken as exact."""
    table = data.counts()
    if len(table.keys) < 2:
        return 1.0
    counts = np.vstack([table.reference, table.current]).astype(np.float64)
    return float(stats.chi2_contingency(counts, correction=False).pvalue)


def _z(data: _Column) -> float:
    """Two-proportion Z-test: the smallest value against all others, two-sided."""
    table = data.counts()
    if len(table.keys) == 1:
        return 1.0
    if data.numeric:
        first = 0
    else:
        keys = table.keys.tolist()
        try:
            first = keys.index(min(keys))
        except TypeError as exc:
            raise DataError(
                f"the Z-test orders the values to pick the first one, but they do not compare "
                f"({exc}); convert them to one type (e.g. str)"
            ) from exc
    n1, n2 = data.reference_rows, data.current_rows
    p1 = float(n1 - table.reference[first]) / n1
    p2 = float(n2 - table.current[first]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _sturges_edges(low: float, high: float, size: int, integer: bool) -> np.ndarray:
    """`np.histogram_bin_edges(both_frames, bins="sturges")` from the min, max and row count."""
    first: np.int64 | np.float64
    last: np.int64 | np.float64
    span: np.uint64 | np.float64
    if integer:
        first, last = np.int64(low), np.int64(high)
        span = np.uint64(int(last) - int(first))
    else:
        first, last = np.float64(low), np.float64(high)
        span = last - first
    if first == last:  # cannot happen with > 20 distinct values; kept for numpy parity
        return np.linspace(first - 0.5, last + 0.5, 2, endpoint=True, dtype=np.float64)
    width = span / (np.log2(size) + 1.0)
    if integer and width < 1:
        width = np.float64(1.0)
    bins = int(np.ceil(span / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True, dtype=np.float64)


def _fill_zeros(shares: np.ndarray) -> None:
    """Evidently's `feel_zeroes`: empty cells get min(nonzero)/1e6, or 1e-4 if that is larger."""
    smallest = shares[shares != 0].min()
    shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001


def _sorted_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram's own counting on sorted data: [edge_i, edge_i+1), the last bin closed."""
    below = np.concatenate(
        (values.searchsorted(edges[:-1], "left"), values.searchsorted(edges[-1:], "right"))
    )
    return np.diff(below)


def _histogram(data: _Column, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin of both frames, as `np.histogram(frame, edges)` gives them."""
    if data.binned is not None:  # counted over the partitions on these same edges
        return data.binned.sturges_reference, data.binned.sturges_current
    if data.ordered is not None:
        ref, cur = data.ordered
        return _sorted_histogram(ref, edges), _sorted_histogram(cur, edges)
    table = data.counts()
    bins = np.minimum(np.searchsorted(edges, table.keys, side="right") - 1, len(edges) - 2)
    return (
        np.bincount(bins, weights=table.reference, minlength=len(edges) - 1),
        np.bincount(bins, weights=table.current, minlength=len(edges) - 1),
    )


def _shares(data: _Column, fill_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's `get_binned_data`: shares per Sturges bin or per distinct value."""
    n1, n2 = data.reference_rows, data.current_rows
    if data.numeric and data.reference_distinct() > BINNED_REFERENCE_VALUES:
        edges = _sturges_edges(*data.bounds(), n1 + n2, data.integer)
        ref_counts, cur_counts = _histogram(data, edges)
    else:
        table = data.counts()
        ref_counts, cur_counts = table.reference, table.current
    ref, cur = ref_counts / n1, cur_counts / n2
    if fill_zeros:
        _fill_zeros(ref)
        _fill_zeros(cur)
    return ref, cur


def _jensenshannon(data: _Column) -> float:
    return float(distance.jensenshannon(*_shares(data, fill_zeros=False)))


def _psi(data: _Column) -> float:
    ref, cur = _shares(data, fill_zeros=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def _kl_div(data: _Column) -> float:
    return float(stats.entropy(*_shares(data, fill_zeros=True)))


def _binned_gaps(binned: Binned) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F_ref - F_cur just below each edge (exact), and the least and greatest value the gap
    can take inside each bin, whatever the values' places within their bins."""
    ref = np.concatenate(([0], np.cumsum(binned.reference))) / binned.reference.sum()
    cur = np.concatenate(([0], np.cumsum(binned.current))) / binned.current.sum()
    return ref - cur, ref[:-1] - cur[1:], ref[1:] - cur[:-1]


def _binned_ks(data: _Column) -> tuple[float, float, float]:
    """The p-value at the largest exact gap, and its range: the KS statistic lies between
    that gap and the largest gap any placement of the values within their bins allows."""
    assert data.binned is not None
    at_edges, least, greatest = _binned_gaps(data.binned)
    low = float(np.abs(at_edges).max())
    high = float(np.maximum(np.abs(least), np.abs(greatest)).max())
    n1, n2 = data.reference_rows, data.current_rows
    p_low = _ks_p_value(low, n1, n2)
    return p_low, _ks_p_value(high, n1, n2), p_low


def _binned_wasserstein(data: _Column) -> tuple[float, float, float]:
    """The integral of |F_ref - F_cur| with both CDFs linear inside each bin, and its range
    over any placement of the values within their bins; over the reference's exact std."""
    binned = data.binned
    assert binned is not None
    at_edges, least, greatest = _binned_gaps(binned)
    width = np.diff(binned.edges)
    left, right = np.abs(at_edges[:-1]), np.abs(at_edges[1:])
    crossing = at_edges[:-1] * at_edges[1:] < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.where(
            crossing,
            (left**2 + right**2) / (2 * (left + right)),
            (left + right) / 2,
        )
    straddles = (least <= 0) & (greatest >= 0)
    smallest = np.where(straddles, 0.0, np.minimum(np.abs(least), np.abs(greatest)))
    largest = np.maximum(np.abs(least), np.abs(greatest))
    scale = max(binned.reference_std, 0.001)
    return (
        float(np.dot(width, np.nan_to_num(linear))) / scale,
        float(np.dot(width, smallest)) / scale,
        float(np.dot(width, largest)) / scale,
    )


#: The tests a `Binned` column answers with a bound (the others are exact on it, or refuse it).
_BINNED_STATISTICS = {"ks": _binned_ks, "wasserstein": _binned_wasserstein}

_STATISTICS = {
    "ks": _ks,
    "chisquare": _chisquare,
    "chi2_two_sample": _chi2_two_sample,
    "z": _z,
    "wasserstein": _wasserstein,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
    "kl_div": _kl_div,
}


# --------------------------------------------------------------------------- public API


def _column_name(reference: pd.Series, current: pd.Series) -> str:
    name = reference.name if reference.name is not None else current.name
    return "<unnamed>" if name is None else str(name)


def default_method(reference: pd.Series, current: pd.Series, kind: ColumnKind) -> str:
    """Evidently 0.7's default test for this column, with one change (see `_default_name`).

    With at most 1,000 non-null reference rows: numeric columns with more than 5 distinct values
    (both frames together) get "ks", everything else "chi2_two_sample" (3+ values; Evidently:
    its goodness-of-fit "chisquare") or "z" (1-2 values).
    With more reference rows: numeric columns with more than 5 distinct values get "wasserstein",
    everything else "jensenshannon".
    """
    column = _column_name(reference, current)
    _check_kind(column, kind)
    return _default_name(_column(reference, current, kind, column), kind)


def _drift_of(
    column: str, kind: ColumnKind, data: _Column, method: str | None, threshold: float | None
) -> ColumnDrift:
    name = _default_name(data, kind) if method is None else method
    spec = METHODS[name]
    limit = spec.default_threshold if threshold is None else float(threshold)
    bound: tuple[float, float] | None = None
    try:
        if data.binned is not None and name in _BINNED_STATISTICS:
            statistic, low, high = _BINNED_STATISTICS[name](data)
            bound = (low, high)
            toward_drift = low if spec.is_p_value else high
        else:
            statistic = toward_drift = _STATISTICS[name](data)
    except DataError as exc:
        raise DataError(f"column {column!r}: {exc}") from exc
    return ColumnDrift(
        column=column,
        kind=kind,
        method=name,
        statistic=statistic,
        threshold=limit,
        drifted=spec.drifted(toward_drift, limit),
        reference_rows=data.reference_rows,
        current_rows=data.current_rows,
        bound=bound,
    )


def column_drift(
    reference: pd.Series,
    current: pd.Series,
    kind: ColumnKind,
    method: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """Drift of one column; `method`/`threshold` default to Evidently's choice for it.

    Nulls (and +-inf) are dropped from each frame first, as Evidently does.
    """
    column = _column_name(reference, current)
    _check_kind(column, kind)
    if method is not None:
        _check_method(column, kind, method)
    _check_threshold(column, threshold)
    return _drift_of(column, kind, _column(reference, current, kind, column), method, threshold)


#: The shifts a p-value test must be able to find at the sizes it runs at (and the effect
#: floors let through): a location shift of half a standard deviation, a share moved 15 points.
POWER_TARGETS = {"sd": 0.5, "share": 0.15}


def effect_size(data: ColumnData, kind: ColumnKind) -> tuple[str, float]:
    """The size of a column's shift whatever test judged it: the normed Wasserstein distance
    (in reference standard deviations) of a numeric column with more than five values, else
    the Jensen-Shannon distance of the shares. Binned data: the end of its bound toward drift."""
    numeric = kind == "numeric" and data.distinct(DISCRETE_VALUES) > DISCRETE_VALUES
    name = "wasserstein" if numeric else "jensenshannon"
    if data.binned is not None and name in _BINNED_STATISTICS:
        return name, _BINNED_STATISTICS[name](data)[2]
    return name, _STATISTICS[name](data)


def detectable_shift(
    method: str, reference_rows: int, current_rows: int, alpha: float
) -> Detectable | None:
    """The shift at which a p-value test at level `alpha` starts to find drift reliably, or
    None for a distance test. KS: the location shift of a normal whose largest CDF gap equals
    the critical value c(alpha) * sqrt((n + m) / (n m)) (found about 4 times in 5 by
    simulation); chi-square and Z: a share moved from one half by z(alpha / 2) standard errors
    (found half the time)."""
    n1, n2 = float(reference_rows), float(current_rows)
    if not METHODS[method].is_p_value or n1 < 1 or n2 < 1:
        return None
    spread = math.sqrt((n1 + n2) / (n1 * n2))
    if method == "ks":
        critical = math.sqrt(-0.5 * math.log(alpha / 2)) * spread
        size = math.inf if critical >= 1 else 2 * float(stats.norm.ppf((1 + critical) / 2))
        return Detectable(size, "sd", POWER_TARGETS["sd"])
    size = float(stats.norm.isf(alpha / 2)) * 0.5 * spread
    return Detectable(size, "share", POWER_TARGETS["share"])


def _with_effects(
    drifts: list[ColumnDrift], data: Mapping[str, ColumnData], floors: Mapping[str, float]
) -> list[ColumnDrift]:
    """A p-value test's drift counts only when the shift is at least its floor (`floors`:
    method name -> smallest effect); each such test also says how large a shift it finds."""
    out = []
    for d in drifts:
        spec = METHODS[d.method]
        if not spec.is_p_value:
            out.append(d)
            continue
        method, value = effect_size(data[d.column], d.kind)
        floor = float(floors[method])
        alpha = d.threshold / d.family_size
        found = detectable_shift(d.method, d.reference_rows, d.current_rows, alpha)
        if found is not None and found.unit == "sd":
            found = replace(found, size=max(found.size, floor))
        effect = Effect(method, value, floor, found)
        out.append(replace(d, effect=effect, drifted=d.drifted and bool(value >= floor)))
    return out


def _benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values: min over j >= rank of m * p_(j) / j, capped at 1."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    scaled = p_values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def _check_rules(
    kinds: Mapping[str, ColumnKind], rules: Mapping[str, DriftRule] | None
) -> dict[str, DriftRule]:
    rules = dict(rules or {})
    unknown = sorted(set(rules) - set(kinds))
    if unknown:
        raise ConfigError(
            f"column {unknown[0]!r}: has a method/threshold rule but is not among the "
            f"columns to check ({', '.join(map(repr, kinds))}); add it to the kinds or drop it"
        )
    for column, kind in kinds.items():
        _check_kind(column, kind)
        rule = rules.get(column)
        if rule is not None and rule.method is not None:
            _check_method(column, kind, rule.method)  # a method must fit the column's kind
    return rules


def frame_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, ColumnKind],
    rules: Mapping[str, DriftRule] | None = None,
    fdr: bool = False,
) -> list[ColumnDrift]:
    """Drift of every column in `kinds` (name -> "numeric"/"categorical"), in that order.

    `rules` maps a column to its own `method` and `threshold` (the policy's `ColumnDriftRule`,
    whose values were checked when the policy loaded); None in either keeps Evidently's default.

    `fdr=True` controls the false discovery rate over the columns judged by a p-value test (ks,
    chisquare, z) with the Benjamini-Hochberg step-up procedure: their finite p-values are
    adjusted together (m = how many there are; adjusted p_(i) = min over j >= i of m * p_(j)/j,
    capped at 1) and each such column drifts when its adjusted p-value passes its own threshold
    with the method's comparison (<= for ks, < for chisquare and z). With one shared threshold
    alpha this is exactly BH at level alpha. `statistic` stays the raw p-value; the adjusted one
    is in `fdr_p_value`. Distance tests (wasserstein, jensenshannon, psi, kl_div) are unchanged.
    """
    rules = _check_rules(kinds, rules)
    for column in kinds:
        for frame, frame_data in (("reference", reference), ("current", current)):
            if column not in frame_data.columns:
                raise DataError(
                    f"column {column!r}: missing from the {frame} data; add it or remove it "
                    "from the drift check"
                )
    data = {c: _column(reference[c], current[c], kind, c) for c, kind in kinds.items()}
    return _decided(data, kinds, rules, fdr)


def columns_drift(
    data: Mapping[str, ColumnData],
    kinds: Mapping[str, ColumnKind],
    rules: Mapping[str, DriftRule] | None = None,
    fdr: bool = False,
    floors: Mapping[str, float] | None = None,
) -> list[ColumnDrift]:
    """`frame_drift` on columns already reduced (`column_data`, or merged partition
    summaries: `mlcheck.stats.sketch`): the one place every engine's drift is decided.

    With `floors` (method name -> smallest effect, for "wasserstein" and "jensenshannon"), a
    p-value test's drift also needs its `effect_size` at the floor (see `Effect`)."""
    drifts = _decided(data, kinds, _check_rules(kinds, rules), fdr)
    return _with_effects(drifts, data, floors) if floors is not None else drifts


def _decided(
    data: Mapping[str, ColumnData],
    kinds: Mapping[str, ColumnKind],
    rules: Mapping[str, DriftRule],
    fdr: bool,
) -> list[ColumnDrift]:
    """Each column's test under its checked rule, then the false discovery rate."""
    drifts = []
    for column, kind in kinds.items():
        rule = rules.get(column)
        method, threshold = (rule.method, rule.threshold) if rule is not None else (None, None)
        drifts.append(_drift_of(column, kind, data[column], method, threshold))
    return _with_fdr(drifts) if fdr else drifts


def _with_fdr(drifts: list[ColumnDrift]) -> list[ColumnDrift]:
    # a binned p-value is adjusted at its end toward drift, as it is judged without fdr
    p_values = [d.bound[0] if d.bound is not None else d.statistic for d in drifts]
    tested = [
        i
        for i, d in enumerate(drifts)
        if METHODS[d.method].is_p_value and math.isfinite(p_values[i])
    ]
    if not tested:
        return drifts
    adjusted = _benjamini_hochberg(np.array([p_values[i] for i in tested]))
    out = list(drifts)
    for i, p in zip(tested, adjusted.tolist(), strict=True):
        d = drifts[i]
        drifted = METHODS[d.method].drifted(p, d.threshold)
        out[i] = replace(d, fdr_p_value=p, drifted=drifted, family_size=len(tested))
    return out


def dataset_drift(drifts: Sequence[ColumnDrift], share: float = 0.5) -> tuple[float, bool]:
    """(share of drifted columns, whether it reaches `share`): Evidently's `>=` rule."""
    if not drifts:
        raise DataError("no column drifts to summarise; check at least one column")
    if isinstance(share, bool) or not 0.0 <= float(share) <= 1.0:
        raise ConfigError(f"share={share!r} must be a number between 0 and 1")
    drifted = sum(1 for d in drifts if d.drifted) / len(drifts)
    return drifted, bool(drifted >= share)
