"""gate.json is strict JSON (no NaN/Infinity) and is written atomically with summary.md."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlcheck.reports as reports
from mlcheck.reports import write_reports
from mlcheck.results import Comparison, GateResult, Outcome, SuiteResult


def _strict(text: str) -> Any:
    """json.loads that rejects NaN, Infinity and -Infinity, as JavaScript's JSON.parse does."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (a restored NaN is a new float)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _one_class_gate() -> GateResult:
    return GateResult(
        "quality.slice.job",
        Outcome.FAIL,
        "worst roc_auc gap",
        float("inf"),
        0.08,
        Comparison.LE,
        (float("nan"), float("-inf")),
        reason="worst slice job='admin.'",
        details={"overall": float("nan"), "slices": {"admin.": {"rows": 400, "gap": math.inf}}},
    )


def test_non_finite_numbers_are_written_as_null_with_their_text_kept():
    suite = SuiteResult.of([_one_class_gate()], model="demo", score=float("nan"))
    data = _strict(suite.to_json())
    gate = data["gates"][0]
    assert gate["value"] is None and gate["interval"] == [None, None]
    assert gate["threshold"] == 0.08
    assert gate["details"]["overall"] is None
    assert gate["details"]["slices"]["admin."] == {"rows": 400, "gap": None}
    assert gate["details"]["non_finite"] == {
        "/value": "inf",
        "/interval/0": "nan",
        "/interval/1": "-inf",
        "/details/overall": "nan",
        "/details/slices/admin./gap": "inf",
    }
    assert gate["reason"] == "worst slice job='admin.'"
    assert "=inf" in gate["message"]
    assert data["context"]["score"] is None
    assert data["context"]["non_finite"] == {"/score": "nan"}


def test_a_strict_gate_json_reads_back_with_the_numbers_restored():
    suite = SuiteResult.of([_one_class_gate()], model="demo", score=float("-inf"))
    text = suite.to_json()
    back = SuiteResult.from_json(text)
    gate = back.gates[0]
    assert gate.value == math.inf and gate.interval is not None
    assert math.isnan(gate.interval[0]) and gate.interval[1] == -math.inf
    assert math.isnan(gate.details["overall"]) and "non_finite" not in gate.details
    assert back.context == {"model": "demo", "score": -math.inf}
    assert back.to_json() == text
    assert _same(back.gates[0].to_dict(), suite.gates[0].to_dict())


def test_a_hand_edited_null_interval_reads_back():
    data = json.loads(SuiteResult.of([_one_class_gate()]).to_json())
    del data["gates"][0]["details"]["non_finite"]
    gate = SuiteResult.from_dict(data).gates[0]
    assert gate.value is None and gate.interval is None


_numbers = st.floats(allow_nan=True, allow_infinity=True)
_leaves = _numbers | st.integers() | st.text(max_size=5) | st.booleans() | st.none()
_details = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)
_gates = st.builds(
    GateResult,
    name=st.text(min_size=1, max_size=10),
    outcome=st.sampled_from(Outcome),
    metric=st.text(min_size=1, max_size=8),
    value=st.none() | _numbers,
    threshold=st.none() | _numbers,
    comparison=st.none() | st.sampled_from(Comparison),
    interval=st.none() | st.tuples(_numbers, _numbers),
    reason=st.text(max_size=10),
    details=st.dictionaries(st.text(max_size=6), _details, max_size=4),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gates=st.lists(_gates, max_size=4),
    context=st.dictionaries(st.text(max_size=6), _details, max_size=3),
)
def test_any_suite_serialises_to_strict_json_and_reads_back(gates, context):
    suite = SuiteResult(gates=tuple(gates), context=context)
    text = suite.to_json()
    data = _strict(text)
    assert data["verdict"] == suite.verdict.value
    back = SuiteResult.from_json(text)
    assert [g.outcome for g in back.gates] == [g.outcome for g in suite.gates]
    assert back.to_json() == text


def _old_and_new(tmp_path):
    old = SuiteResult.of([GateResult("quality.accuracy", Outcome.PASS, "accuracy", 0.95)])
    write_reports(old, tmp_path, index=False)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    new = SuiteResult.of(
        GateResult(f"drift.column_{i}", Outcome.FAIL, "psi", 0.5 + i, 0.2, Comparison.LT)
        for i in range(50)
    )
    return before, new


def test_a_failure_while_rendering_leaves_the_previous_reports_unchanged(tmp_path, monkeypatch):
    before, new = _old_and_new(tmp_path)

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(reports, "to_markdown", broken)
    with pytest.raises(RuntimeError, match="renderer broke"):
        write_reports(new, tmp_path, index=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_write_that_fails_half_way_leaves_the_previous_gate_json_unchanged(tmp_path):
    import resource

    before, new = _old_and_new(tmp_path)
    limit = max(len(b) for b in before.values()) + 64  # the new gate.json is far larger
    assert len(new.to_json()) > 4 * limit
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))  # a disk that fills mid-write
    try:
        with pytest.raises(OSError):
            write_reports(new, tmp_path, index=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_reports_are_replaced_whole_and_leave_no_temporary_file(tmp_path):
    before, new = _old_and_new(tmp_path)
    written = write_reports(new, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert _strict((tmp_path / "gate.json").read_text())["counts"]["FAIL"] == 50
    assert (tmp_path / "gate.json").read_bytes() != before["gate.json"]
    assert sys.platform == "win32" or os.stat(tmp_path / "gate.json").st_mode & 0o777 == (
        0o666 & ~_umask()
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_plots_leave_out_non_finite_values():
    from mlcheck.reports.plots import suite_plots

    suite = SuiteResult.of(
        [
            GateResult("drift.age", Outcome.FAIL, "psi", math.inf, 0.2, Comparison.LT),
            GateResult("load.p95", Outcome.FAIL, "p95_ms", math.nan, 500.0, Comparison.LE),
        ]
    )
    assert suite_plots(suite) == {}
