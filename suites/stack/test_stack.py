"""Stack: a real Prometheus scraped the serving core during a bounded load; a real MLflow.

The load is locust's (a subprocess), bounded by `[load] run_time_s`; the gates read the
serving core's counters from two Prometheus scrapes around it (see mlcheck/stack/promql.py).
With `--mlcheck-stack=off` every test here is skipped and says so.
"""

from pathlib import Path

import pytest

from mlcheck.stack.mlflow_log import check_tracking_server
from mlcheck.stack.session import stack_gates_after_load


@pytest.fixture(scope="module")
def stack_gates(mlcheck_stack, mlcheck_served_model, mlcheck_inputs):
    out = Path(mlcheck_inputs.options.report_dir) / "stack"
    gates, _ = stack_gates_after_load(mlcheck_stack, mlcheck_served_model.url, mlcheck_inputs, out)
    return {gate.name: gate for gate in gates}


@pytest.mark.mlcheck_gate("stack.prometheus")
def test_prometheus_after_load(stack_gates, record_gate):
    results = [
        record_gate(gate)
        for name, gate in stack_gates.items()
        if name.startswith("stack.prometheus.")
    ]
    blocked = [r.message for r in results if not r.passed]
    assert not blocked, "\n".join(blocked)


@pytest.mark.mlcheck_gate("stack.alerts")
def test_no_alert_fires_after_load(stack_gates, record_gate):
    result = record_gate(stack_gates["stack.alerts"])
    assert result.passed, result.message


@pytest.mark.mlcheck_gate("stack.mlflow")
def test_mlflow_tracking_server_answers(mlcheck_stack):
    check_tracking_server(mlcheck_stack.require("mlflow").url)
