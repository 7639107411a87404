"""Gate suites: every test here is a gate recorded in reports/gate.json."""

import pytest

from mlcheck.extras import missing, named_explicitly
from mlcheck.plugin import enable_gate_reports


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    enable_gate_reports(config)
    config.addinivalue_line(
        "markers",
        "mlcheck_needs(extra, what): the gate needs mlcheck[extra]; without it the gate is "
        "skipped, or an ERROR when its file was named on the command line",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A gate whose extra is missing: skipped with the reason naming `pip install
    'mlcheck[extra]'` when it came with the default suites, an ERROR (exit 2) when the user
    named its file. Checked before any fixture starts a server for it."""
    marker = item.get_closest_marker("mlcheck_needs")
    if marker is None:
        return
    absent = missing(*marker.args)
    if absent is None:
        return
    config = item.config
    if named_explicitly(config.args, config.invocation_params.dir, item.path):
        raise absent
    pytest.skip(str(absent))
