"""Gate suites: every test here is a gate recorded in reports/gate.json."""

import pytest

from mlcheck.plugin import enable_gate_reports


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    enable_gate_reports(config)
