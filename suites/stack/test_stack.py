"""Stack: a real Prometheus scraped the serving core during a bounded load; a real MLflow.

The load is locust's (a subprocess), bounded by `[load] run_time_s`; the gates read the
serving core's counters from two Prometheus scrapes around it (`mlcheck.run.steps`).
With `--mlcheck-stack=off` every test here is skipped and says so.
"""

import pytest

from mlcheck.run.steps import stack_after_load
from mlcheck.stack.mlflow_log import check_tracking_server


@pytest.fixture(scope="module")
def stack_gates(mlcheck_stack, mlcheck_served_model, mlcheck_serving):
    gates = stack_after_load(mlcheck_stack, mlcheck_served_model.url, mlcheck_serving)
    return {gate.name: gate for gate in gates}


@pytest.mark.mlcheck_gate("stack.prometheus")
@pytest.mark.mlcheck_needs("load", "the stack gates' load (locust)")
def test_prometheus_after_load(stack_gates, record_gates):
    record_gates(g for name, g in stack_gates.items() if name.startswith("stack.prometheus."))


@pytest.mark.mlcheck_gate("stack.alerts")
@pytest.mark.mlcheck_needs("load", "the stack gates' load (locust)")
def test_no_alert_fires_after_load(stack_gates, record_gates):
    record_gates(stack_gates["stack.alerts"])


@pytest.mark.mlcheck_gate("stack.mlflow")
def test_mlflow_tracking_server_answers(mlcheck_stack):
    check_tracking_server(mlcheck_stack.require("mlflow").url)
