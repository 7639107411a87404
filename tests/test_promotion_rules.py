"""Which gate runs may promote a model: a full run, or a partial one only when asked."""

from __future__ import annotations

import pytest

from mlcheck.models.registry import partial_reason
from mlcheck.results import SuiteResult

FULL = {"full": True, "summary": "full run: every gate suite ran, nothing deselected"}


def test_a_full_run_is_not_partial():
    assert partial_reason(SuiteResult.of([], selection=FULL)) == ""


@pytest.mark.parametrize(
    ("context", "said"),
    [
        ({"selection": {"full": False, "summary": "partial run: left out load"}}, "left out load"),
        ({"selection": {"full": False}}, "a partial run"),
        ({}, "does not record which suites ran"),
        ({"selection": "full"}, "does not record which suites ran"),
    ],
)
def test_a_run_that_left_gates_out_or_does_not_say_is_partial(context, said):
    assert said in partial_reason(SuiteResult.of([], **context))
