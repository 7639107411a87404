"""Load: locust (a subprocess: it patches gevent) against the served model, bounded in time."""

import pytest

from mlcheck.run.steps import load_after_counting


@pytest.mark.mlcheck_gate("load")
@pytest.mark.mlcheck_needs("load", "the load gate (locust)")
def test_load(mlcheck_served_model, mlcheck_serving, record_gates):
    record_gates(load_after_counting(mlcheck_served_model.url, mlcheck_serving))
