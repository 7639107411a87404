"""Properties of the gates, the statistics and the policy parser, checked on generated data.

(gate.json parsing strictly for any suite is in tests/test_strict_reports.py.)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlcheck.policy as policy_module
from mlcheck.errors import ConfigError
from mlcheck.gates.drift import drift_gates
from mlcheck.gates.quality import metric_gates
from mlcheck.policy import (
    BootstrapPolicy,
    ColumnDriftRule,
    DriftPolicy,
    MetricThreshold,
    Policy,
    QualityPolicy,
    parse_policy,
)
from mlcheck.results import Comparison, GateResult, Outcome
from mlcheck.stats.catalogue import METRICS, task_metrics
from mlcheck.stats.metrics import bootstrap_metrics, metric_values

BINARY = task_metrics("binary")

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- generated data

_TIED = (0.0, 0.1, 0.25, 0.5, 0.5000001, 0.75, 0.9, 1.0)
_unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def _labelled(draw, min_rows: int = 2, max_rows: int = 120, ties: bool = True):
    """(labels, scores): 0/1 labels and scores in [0, 1], with ties and constants if `ties`."""
    n = draw(st.integers(min_rows, max_rows))
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))
    if not ties:
        scores = draw(hnp.arrays(np.float64, n, elements=_unit, unique=True))
    else:
        scores = draw(
            st.one_of(
                hnp.arrays(np.float64, n, elements=st.sampled_from(_TIED)),
                hnp.arrays(np.float64, n, elements=_unit),
                _unit.map(lambda v: np.full(n, v)),
            )
        )
    return labels, scores


@st.composite
def _quality_policies(draw):
    """A threshold on every metric, in its range, and a small bootstrap."""
    thresholds = tuple(
        MetricThreshold(
            name,
            Comparison.GE if spec.higher_is_better else Comparison.LE,
            draw(st.floats(spec.lower, min(spec.upper, 5.0))),
        )
        for name, spec in METRICS.items()
        if name in BINARY
    )
    return QualityPolicy(
        thresholds=thresholds,
        decision_threshold=draw(_unit),
        bootstrap=BootstrapPolicy(resamples=200, seed=draw(st.integers(0, 2**32 - 1))),
    )


def _verdict(gate: GateResult) -> tuple[str, Outcome, str, str, str]:
    """What a gate decided, with NaN comparable (repr) and values exact."""
    return gate.name, gate.outcome, repr(gate.value), repr(gate.interval), gate.reason


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# --------------------------------------------------------------------------- (a) row order


def _gates_before_and_after_shuffling(data, policy, order):
    """The quality gates on the rows as drawn and on the same rows shuffled by `order`."""
    labels, scores = data
    shuffled = np.arange(len(labels))
    order.shuffle(shuffled)
    return metric_gates(labels, scores, policy), metric_gates(
        labels[shuffled], scores[shuffled], policy
    )


@FAST
@given(data=_labelled(ties=False), policy=_quality_policies(), order=st.randoms())
def test_row_order_does_not_change_a_quality_verdict(data, policy, order):
    before, after = _gates_before_and_after_shuffling(data, policy, order)
    for gate in before:
        event(f"{gate.name} {gate.outcome.value}")
    assert [_verdict(g) for g in after] == [_verdict(g) for g in before]


@FAST
@given(data=_labelled(ties=True), policy=_quality_policies(), order=st.randoms())
def test_row_order_does_not_change_a_quality_value_even_with_tied_scores(data, policy, order):
    before, after = _gates_before_and_after_shuffling(data, policy, order)
    assert [g.name for g in after] == [g.name for g in before]
    for a, b in zip(before, after, strict=True):
        assert _close(a.value, b.value), (a.name, a.value, b.value)
        assert (a.outcome is Outcome.ERROR) == (b.outcome is Outcome.ERROR), a.name


# 120 rows, two distinct scores, 30 errors (enough for the bootstrap, not the exact interval).
_TIED_LABELS = np.tile([1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0], 10)
_TIED_SCORES = np.tile([0.7, 0.3, 0.3, 0.7, 0.3, 0.3, 0.7, 0.7, 0.7, 0.7, 0.3, 0.3], 10)


def test_reversing_rows_with_tied_scores_keeps_the_verdict():
    """The bootstrap's weights are drawn for positions in score (then label) order; rows with
    equal scores in another input order must not make the same seed resample other rows."""
    bootstrap = BootstrapPolicy(resamples=200, seed=0)
    rule = MetricThreshold("accuracy", Comparison.GE, 1 / 3)
    policy = QualityPolicy(thresholds=(rule,), bootstrap=bootstrap)
    (before,) = metric_gates(_TIED_LABELS, _TIED_SCORES, policy)
    (after,) = metric_gates(_TIED_LABELS[::-1], _TIED_SCORES[::-1], policy)
    assert before.value == after.value
    assert before.outcome is Outcome.PASS and before.interval is not None
    assert after.outcome is before.outcome and after.interval == before.interval


_NUMERIC_KINDS = ("float", "integer", "continuous")


@st.composite
def _column_pair(draw, min_rows: int = 30, max_rows: int = 2000):
    """A numeric and a categorical column, at least two distinct values in each, as a frame.

    Values come from small pools drawn by hypothesis (ties, few categories, nulls) or, for
    `continuous`, from a normal distribution whose location and scale it draws.
    """
    # Both of Evidently's regimes: up to 1,000 reference rows (ks, chisquare, z) and above.
    rows = draw(st.integers(min_rows, 200) | st.integers(1001, max_rows))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(_NUMERIC_KINDS))
    if kind == "continuous":
        loc = draw(st.floats(-1e6, 1e6))
        scale = draw(st.floats(1e-3, 1e4))
        numbers = pd.Series(rng.normal(loc, scale, rows))
    else:
        element = (
            st.floats(-1e9, 1e9, allow_nan=False)
            if kind == "float"
            else st.integers(-(2**40), 2**40)
        )
        pool = draw(st.lists(element, min_size=2, max_size=40, unique=True))
        rows = max(rows, len(pool))
        values = np.array(pool + list(rng.choice(pool, rows - len(pool))))
        numbers = pd.Series(values[rng.permutation(rows)])
        if kind == "float" and draw(st.booleans()):
            numbers[rng.random(rows) < 0.05] = np.nan  # nulls are dropped before testing
    categories = draw(
        st.lists(st.text(min_size=1, max_size=6), min_size=2, max_size=8, unique=True)
    )
    weights = rng.dirichlet(np.ones(len(categories)))
    labels = list(categories) + list(rng.choice(categories, rows - len(categories), p=weights))
    words = pd.Series(np.array(labels, dtype=object)[rng.permutation(rows)])
    frame = pd.DataFrame({"number": numbers, "word": words})
    assume(frame["number"].nunique() >= 2 and frame["word"].nunique() >= 2)
    return frame


_KINDS = {"number": "numeric", "word": "categorical"}


_NUMBER_METHODS = (None, "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div")
_WORD_METHODS = (None, "chisquare", "z", "jensenshannon", "psi", "kl_div")


@st.composite
def _drift_policies(draw):
    """Evidently's default tests or any test that fits the column's kind, with or without BH."""
    rules = {
        column: ColumnDriftRule(method=method)
        for column, methods in (("number", _NUMBER_METHODS), ("word", _WORD_METHODS))
        for method in [draw(st.sampled_from(methods))]
        if method is not None
    }
    return DriftPolicy(columns=rules, fdr=draw(st.booleans()))


@settings(FAST, max_examples=50)
@given(
    reference=_column_pair(),
    current=_column_pair(),
    policy=_drift_policies(),
    seed=st.integers(0, 2**32 - 1),
)
def test_row_order_does_not_change_a_drift_verdict(reference, current, policy, seed):
    rng = np.random.default_rng(seed)
    before = drift_gates(reference, current, _KINDS, policy)
    after = drift_gates(
        reference.iloc[rng.permutation(len(reference))].reset_index(drop=True),
        current.iloc[rng.permutation(len(current))],
        _KINDS,
        policy,
    )
    assert [(g.name, g.outcome, g.metric) for g in after] == [
        (g.name, g.outcome, g.metric) for g in before
    ]
    for a, b in zip(before, after, strict=True):
        event(f"{a.name}: {a.metric} {a.outcome.value}")
        assert _close(a.value, b.value), (a.name, a.value, b.value)


# --------------------------------------------------------------------------- (b) no drift


@settings(FAST, max_examples=40)
@given(frame=_column_pair())
@example(frame=pd.DataFrame({"number": [0.0, 1.0] * 15, "word": ["a", "b"] * 15}))
def test_identical_reference_and_current_never_drift(frame):
    gates = drift_gates(frame, frame.copy(), _KINDS, DriftPolicy())
    assert [g.name for g in gates] == ["drift.number", "drift.word", "drift.dataset"]
    for gate in gates:
        event(f"{gate.name}: {gate.metric}")
    # a small sample may WARN that it cannot find the shifts it is meant to; none drifts
    failed = [
        (g.name, g.metric, g.value, g.outcome)
        for g in gates
        if g.outcome is not Outcome.PASS
        and not (g.outcome is Outcome.WARN and g.reason.startswith("too few rows"))
    ]
    assert not failed


# --------------------------------------------------------------------------- (c) metric ranges


def _in_range(name: str, value: float, labels: np.ndarray) -> bool:
    spec = METRICS[name]
    if math.isnan(value):
        return name == "roc_auc" and len(set(labels.tolist())) < 2
    return spec.lower <= value <= spec.upper


@FAST
@given(data=_labelled(min_rows=1), threshold=_unit)
@example(data=(np.array([1, 0, 1]), np.full(3, 0.5)), threshold=0.5)
@example(data=(np.array([1, 1]), np.array([0.0, 1.0])), threshold=1.0)
def test_every_metric_value_is_in_its_range(data, threshold):
    labels, scores = data
    values = metric_values(labels, scores, BINARY, threshold)
    assert set(values) == set(BINARY)
    for name, value in values.items():
        assert value.shape == (1,)
        assert _in_range(name, float(value[0]), labels), (name, value)


@FAST
@given(
    data=_labelled(min_rows=1),
    threshold=_unit,
    groups=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_slice_metric_is_in_its_range(data, threshold, groups, seed):
    labels, scores = data
    rng = np.random.default_rng(seed)
    masks = rng.random((groups, len(labels))) < 0.5
    masks[np.arange(groups), rng.integers(0, len(labels), groups)] = True  # never empty
    values = metric_values(labels, scores, BINARY, threshold, masks.astype(float))
    for name, per_group in values.items():
        for mask, value in zip(masks, per_group, strict=True):
            assert _in_range(name, float(value), labels[mask]), (name, value)


@settings(FAST, max_examples=40)
@given(data=_labelled(min_rows=1), threshold=_unit, seed=st.integers(0, 2**32 - 1))
def test_every_bootstrap_estimate_is_in_its_range(data, threshold, seed):
    labels, scores = data
    estimates = bootstrap_metrics(labels, scores, BINARY, threshold, resamples=100, seed=seed)
    for name, estimate in estimates.items():
        assert estimate.resamples == 100
        assert _in_range(name, estimate.value, labels), (name, estimate)
        for bound in (estimate.low, estimate.high):
            if math.isnan(bound):  # every resample undefined: only AUC, one class
                assert name == "roc_auc" and math.isnan(estimate.low), estimate
            else:
                assert METRICS[name].lower <= bound <= METRICS[name].upper, estimate
        if not math.isnan(estimate.low):
            assert estimate.low <= estimate.high, estimate


# --------------------------------------------------------------------------- (d) policy bounds


@dataclasses.dataclass(frozen=True)
class _Bounded:
    """A numeric policy key: where it goes in the TOML data and what its metadata allows."""

    path: tuple[str, ...]  # tables, then the key
    low: float
    high: float
    integer: bool

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def data(self, value: Any) -> dict[str, Any]:
        data: dict[str, Any] = {self.path[-1]: value}
        for table in reversed(self.path[:-1]):
            data = {table: data}
        return data


def _numeric_keys(cls: type, tables: tuple[str, ...], read: dict[str, Any]) -> list[_Bounded]:
    """Every `number` field of `cls` and of the sections it nests, as its metadata declares."""
    out = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(policy_module._SPEC)
        if spec is None:
            continue
        key = spec.key or f.name
        if spec.kind == "number":
            known = {g.name: getattr(defaults, g.name) for g in dataclasses.fields(cls)}
            high = spec.high({**known, **read}) if callable(spec.high) else spec.high
            out.append(_Bounded((*tables, key), spec.low, high, spec.integer))
        elif spec.kind == "flat":
            out += _numeric_keys(spec.cls, tables, read)
        elif spec.kind == "table":
            out += _numeric_keys(spec.cls, (*tables, key), read)
    return out


_BOUNDED = [
    *_numeric_keys(Policy, (), {}),
    *_numeric_keys(ColumnDriftRule, ("drift", "columns", "age"), {}),
    *(
        _Bounded(("quality", "min" if spec.higher_is_better else "max", name), *bounds, False)
        for name, spec in METRICS.items()
        for bounds in [(spec.lower, spec.upper)]
    ),
    *(
        _Bounded(("compare", f"margin_{name}"), 0.0, spec.upper, False)
        for name, spec in METRICS.items()
    ),
]


def test_the_walk_finds_every_section_with_numbers():
    sections = {b.path[0] for b in _BOUNDED}
    assert sections == {
        "quality", "data_quality", "drift", "importance", "latency", "load", "stack", "compare"
    }  # fmt: skip
    keys = {b.dotted for b in _BOUNDED}
    assert {
        "quality.bootstrap_resamples",
        "quality.estimated.max_reference_calibration_error",
        "importance.max_share_shift",
        "quality.slices.max_gap",
        "compare.seed",
        "drift.columns.age.threshold",
        "load.workers",
    } <= keys
    assert len(_BOUNDED) >= 50


def _outside(bounded: _Bounded) -> list[Any]:
    """The values just outside each finite bound."""
    out: list[Any] = []
    for bound, direction in ((bounded.low, -1), (bounded.high, 1)):
        if math.isinf(bound):
            continue
        if bounded.integer:
            out.append(int(bound) + direction)
        else:
            out.append(math.nextafter(float(bound), direction * math.inf))
    return out


def _rejected(bounded: _Bounded, value: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_policy(bounded.data(value), source="gates.toml")
    return str(info.value)


@pytest.mark.parametrize("bounded", _BOUNDED, ids=lambda b: b.dotted)
def test_a_value_just_outside_a_bound_is_refused_with_its_key(bounded):
    values = _outside(bounded)
    assert values, f"{bounded.dotted} has no finite bound"
    for value in values:
        message = _rejected(bounded, value)
        assert f"gates.toml: {bounded.dotted}={value!r} " in message, message
        assert "out of range" in message or "must be" in message, message
    for at_bound in (bounded.low, bounded.high):  # the bounds themselves are allowed
        if math.isinf(at_bound):
            continue
        value = int(at_bound) if bounded.integer else float(at_bound)
        parse_policy(bounded.data(value), source="gates.toml")


def _beyond(bounded: _Bounded) -> st.SearchStrategy[Any]:
    """Any value outside [low, high]: far, near, infinite or NaN."""
    options = []
    if bounded.integer:
        if not math.isinf(bounded.low):
            options.append(st.integers(max_value=int(bounded.low) - 1))
        if not math.isinf(bounded.high):
            options.append(st.integers(min_value=int(bounded.high) + 1))
        return st.one_of(options)
    if not math.isinf(bounded.low):
        options.append(st.floats(max_value=bounded.low, exclude_max=True))
        options.append(st.integers(max_value=math.ceil(bounded.low) - 1))
    if not math.isinf(bounded.high):
        options.append(st.floats(min_value=bounded.high, exclude_min=True))
        options.append(st.integers(min_value=math.floor(bounded.high) + 1))
    return st.one_of(options) | st.just(math.nan)


@settings(FAST, max_examples=300)
@given(data=st.data())
def test_any_value_outside_a_bound_is_refused_with_its_key(data):
    bounded = data.draw(st.sampled_from(_BOUNDED))
    value = data.draw(_beyond(bounded))
    message = _rejected(bounded, value)
    assert f"{bounded.dotted}={value!r} " in message, message
    assert "out of range" in message or "must be" in message, message
