"""The serving metrics' bulk histogram update matches prometheus_client's own, value by value."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from mlcheck.serving.metrics import observe_many

BOUNDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for metric in histogram.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([*BOUNDS, 0.0, -1.0, 2.0, float("inf")]),
            st.floats(-2, 3, allow_nan=False),
        ),
        max_size=40,
    )
)
def test_observe_many_fills_the_buckets_as_observe_does(values):
    one_by_one = Histogram("h", "h", buckets=BOUNDS, registry=CollectorRegistry())
    bulk = Histogram("h", "h", buckets=BOUNDS, registry=CollectorRegistry())
    for value in values:
        one_by_one.observe(value)
    observe_many(bulk, np.asarray(values, dtype=np.float64))
    expected, got = _samples(one_by_one), _samples(bulk)
    assert expected.keys() == got.keys()
    sum_key = ("h_sum", "")
    assert {k: v for k, v in got.items() if k != sum_key} == {
        k: v for k, v in expected.items() if k != sum_key
    }
    assert np.isclose(got[sum_key], expected[sum_key])
