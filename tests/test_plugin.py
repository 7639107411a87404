"""The pytest plugin end to end with pytester: gate records, gate.json and exit statuses."""

import json

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # each test runs pytest in a subprocess

CONFTEST = """
import pytest
from mlcheck.plugin import enable_gate_reports

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    enable_gate_reports(config)
"""

SUITE = """
import pytest
from mlcheck.errors import DataError
from mlcheck.results import Comparison, GateResult, Outcome

def test_recorded_pass(record_gates):
    record_gates(GateResult("demo.pass", Outcome.PASS, "m", 1.0, 0.5, Comparison.GE))

def test_recorded_fail(record_gates):
    record_gates([GateResult("demo.fail", Outcome.FAIL, "m", 0.1, 0.5, Comparison.GE)])

@pytest.fixture
def broken():
    raise DataError("--current='x.csv' does not exist; pass a CSV")

@pytest.mark.mlcheck_gate("demo.broken")
def test_cannot_decide(broken):
    pass

def test_plain_assert():
    assert 1 + 1 == 2
"""


def _gate_json(pytester):
    return json.loads((pytester.path / "reports" / "gate.json").read_text())


def test_gates_are_recorded_and_errors_exit_2(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            "*mlcheck gates*",
            "*demo.fail: m=0.1000 >= 0.5000 FAIL*",
            "*demo.broken: -=n/a ERROR (--current='x.csv' does not exist; pass a CSV)*",
            "ERROR · 2 passed, 1 failed, 1 error*exit 2",
        ]
    )
    data = _gate_json(pytester)
    assert data["version"] == 1 and data["verdict"] == "ERROR" and data["exit_code"] == 2
    outcomes = {g["name"]: g["outcome"] for g in data["gates"]}
    assert outcomes == {
        "demo.pass": "PASS",
        "demo.fail": "FAIL",
        "demo.broken": "ERROR",
        "test_suite.py::test_plain_assert": "PASS",
    }
    html = (pytester.path / "reports" / "report.html").read_text()
    assert "mlcheck-gate-table" in html and "demo.fail" in html
    assert "| demo.fail | m | 0.1000 |" in (pytester.path / "reports" / "summary.md").read_text()


def test_a_suite_asking_for_the_old_inputs_fixture_is_told_what_replaced_it(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_own="def test_rows(mlcheck_inputs, record_gates):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider")
    assert result.ret == 2
    (gate,) = _gate_json(pytester)["gates"]
    assert gate["outcome"] == "ERROR"
    assert "mlcheck_inputs is replaced by the run's parts: mlcheck_data" in gate["reason"]


def test_a_failed_gate_exits_1(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite="\n".join(SUITE.split("@pytest.fixture")[0].splitlines()))
    result = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider")
    assert result.ret == 1
    assert _gate_json(pytester)["verdict"] == "FAIL"


def test_plain_test_runs_are_left_alone(pytester):
    pytester.makepyfile("def test_x():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert not (pytester.path / "reports").exists()


def test_options_are_listed_in_help(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "mlcheck quality gates:",
            "*--mlcheck-model=URI*",
            "*--mlcheck-reference=PATH*",
            "*--mlcheck-current=PATH*",
            "*--mlcheck-target=COLUMN*",
            "*--mlcheck-policy=PATH*",
            "*--mlcheck-report-dir=DIR*",
        ]
    )


def test_the_terminal_shows_the_gates_and_reasons_and_tracebacks_only_with_v(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    quiet = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider", "-rfE")
    text = quiet.stdout.str()
    assert "Traceback" not in text and "= FAILURES =" not in text and "= ERRORS =" not in text
    assert "short test summary info" not in text  # the gate table says it
    quiet.stdout.fnmatch_lines(
        [
            "*demo.fail: m=0.1000 >= 0.5000 FAIL*",
            "*demo.broken: -=n/a ERROR (--current='x.csv' does not exist; pass a CSV)*",
            "mlcheck: the tracebacks of 2 failed tests are in *report.html; -v shows them",
        ]
    )
    html = (pytester.path / "reports" / "report.html").read_text()
    assert "raise DataError" in html  # the traceback is kept in the report
    verbose = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider", "-v")
    assert "= ERRORS =" in verbose.stdout.str() and "raise DataError" in verbose.stdout.str()


def test_a_keyword_run_records_what_it_deselected(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:locust", "-p", "no:cacheprovider", "-k", "pass"
    )
    assert result.ret == 0
    selection = _gate_json(pytester)["context"]["selection"]
    assert selection["full"] is False and selection["keyword"] == "pass"
    assert selection["deselected"] == 3
    partial = "partial run: -k 'pass' deselected 3 tests"
    assert selection["summary"] == partial
    assert partial in (pytester.path / "reports" / "summary.md").read_text()
    result.stdout.fnmatch_lines([f"*{partial}*"])
    full = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider")
    assert _gate_json(pytester)["context"]["selection"]["full"] is True
    assert "partial run" not in full.stdout.str()


NOT_APPLICABLE = """
import pytest
from mlcheck.errors import NotApplicable

@pytest.fixture(scope="session")
def shared():
    raise NotApplicable("no labels yet")

@pytest.mark.mlcheck_gate("demo.fixture")
def test_from_a_fixture(shared):
    pass

@pytest.mark.mlcheck_gate("demo.call")
def test_in_the_call():
    raise NotApplicable("[demo] enabled = false")

@pytest.mark.mlcheck_gate("demo.other")
def test_another_exception_is_an_error():
    raise ValueError("boom")
"""


def test_a_step_that_does_not_apply_is_a_skip_and_no_other_exception_is(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=NOT_APPLICABLE)
    result = pytester.runpytest_subprocess("-p", "no:locust", "-p", "no:cacheprovider", "-rs")
    assert result.ret == 2  # the ValueError: could not decide, never a pass
    gates = {g["name"]: g for g in _gate_json(pytester)["gates"]}
    assert gates["demo.fixture"]["outcome"] == "SKIP"
    assert gates["demo.fixture"]["reason"] == "Skipped: no labels yet"
    assert gates["demo.call"]["outcome"] == "SKIP"
    assert gates["demo.call"]["reason"] == "Skipped: [demo] enabled = false"
    assert gates["demo.other"]["outcome"] == "ERROR"


LAUNCHED = """
import dataclasses
import os
import pytest
from mlcheck.plugin import STATE

@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    launched = session.config.stash[STATE].launched
    (session.config.rootpath / "launched.txt").write_text(launched.url if launched else "")
    (session.config.rootpath / "launched.pid").write_text(str(launched.pid if launched else ""))
    if os.environ.get("CASE") == "replaced":  # as if launched for another config
        launched.config = dataclasses.replace(launched.config, decision_threshold=0.25)
"""

SERVED = """
import os
import pytest

@pytest.mark.mlcheck_gate("demo.served")
def test_served(mlcheck_served_model):
    launched = open("launched.txt").read()
    if os.environ.get("CASE") == "replaced":
        assert mlcheck_served_model.url != launched
    else:
        assert mlcheck_served_model.url == launched

def test_plain():  # a run whose gates all skip decides nothing (exit 2)
    pass
"""


def _running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("case", ["taken", "left", "replaced"])
def test_the_served_model_starts_with_the_session_and_never_outlives_it(
    pytester, small_model_dir, monkeypatch, case
):
    """The server a gate needs is launched when collection ends (it starts while the run
    scores); the fixture takes that one if its config is the run's (else starts another), and
    a launched server no test took is stopped."""
    monkeypatch.setenv("CASE", case)
    pytester.makeconftest(CONFTEST + LAUNCHED)
    skipped = SERVED.replace("@pytest.mark.mlcheck", "@pytest.mark.skip\n@pytest.mark.mlcheck")
    pytester.makepyfile(test_suite=skipped if case == "left" else SERVED)
    result = pytester.runpytest_subprocess(
        "-p", "no:locust", "-p", "no:cacheprovider", f"--mlcheck-model={small_model_dir}"
    )
    assert (pytester.path / "launched.txt").read_text().startswith("http://127.0.0.1:")
    outcome = {g["name"]: g["outcome"] for g in _gate_json(pytester)["gates"]}["demo.served"]
    assert (result.ret, outcome) == ((0, "SKIP") if case == "left" else (0, "PASS"))
    pid = int((pytester.path / "launched.pid").read_text())
    assert not _running(pid)  # stopped: by the fixture's teardown, or at the session's end


NO_REPORT = """
import sys
import threading

def pytest_sessionfinish(session):
    for thread in threading.enumerate():
        if thread.name == "mlcheck-preload":
            thread.join()
    (session.config.rootpath / "evidently.txt").write_text(str("evidently" in sys.modules))
"""


def test_no_drift_report_means_evidently_is_not_imported(pytester):
    """The drift gates' run imports Evidently on a thread for drift.html; a policy that turns
    the report off (`[drift] report_rows = 0`) does not pay for that import."""
    pytester.makeconftest(CONFTEST + NO_REPORT)
    pytester.makefile(".toml", policy="[drift]\nreport_rows = 0\n")
    pytester.makepyfile(
        test_suite="""
import pytest
from mlcheck.results import GateResult, Outcome

@pytest.mark.mlcheck_gate("drift.x")
def test_drift(record_gates):
    record_gates(GateResult("drift.x", Outcome.PASS, "psi"))
"""
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:locust", "-p", "no:cacheprovider", "--mlcheck-policy=policy.toml"
    )
    assert result.ret == 0
    assert (pytester.path / "evidently.txt").read_text() == "False"
