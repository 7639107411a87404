"""Extras: the one-line message that names the extra to install, and where it is checked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlcheck import extras
from mlcheck.cli import main
from mlcheck.errors import ConfigError
from mlcheck.extras import MissingExtra, missing, named_explicitly, require, run_needs


@pytest.fixture
def without(monkeypatch):
    """Make modules look uninstalled to `mlcheck.extras` (find_spec answers None)."""
    gone: set[str] = set()
    real = extras.available
    monkeypatch.setattr(extras, "available", lambda name: name not in gone and real(name))
    return gone.update


def test_the_message_is_one_line_naming_the_extra(without):
    without({"locust"})
    error = missing("load", "the load gate (locust)")
    assert isinstance(error, MissingExtra) and isinstance(error, ConfigError)
    assert str(error) == (
        "the load gate (locust) needs locust, which is not installed: pip install 'mlcheck[load]'"
    )
    assert "\n" not in str(error)


def test_require_imports_what_is_there_and_raises_for_what_is_not(without):
    assert require("xgboost", "xgboost", "x").__name__ == "xgboost"
    without({"distributed"})
    with pytest.raises(MissingExtra, match=r"pip install 'mlcheck\[dask\]'"):
        require("dask", "dask", "--engine dask")  # any module of the extra missing
    with pytest.raises(ValueError):
        require("load", "xgboost", "x")  # a module that is not the extra's


def test_run_needs_checks_the_options_before_a_run(without):
    assert run_needs("models:/m@c", None, "local", "off") is None
    without({"xgboost", "testcontainers", "dask"})
    assert "mlcheck[xgboost]" in str(run_needs(None, None, "auto", "auto"))  # the demo
    assert "mlcheck[xgboost]" in str(run_needs("m", "demo", "auto", "off"))
    assert "mlcheck[dask]" in str(run_needs("m", None, "dask", "off"))
    assert "mlcheck[stack]" in str(run_needs("m", None, "auto", "containers"))
    assert run_needs("m", None, "auto", "auto") is None  # auto falls back to processes


def test_gate_exits_2_with_one_line_before_pytest_starts(without, tmp_path, capsys):
    without({"xgboost"})
    code = main(["gate", "--model", "demo", "--report-dir", str(tmp_path), "--stack", "off"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mlcheck gate: error: --model demo (an XGBoost model) needs xgboost, which is not "
        "installed: pip install 'mlcheck[xgboost]'"
    ]
    assert "mlcheck[xgboost]" in (tmp_path / "gate.json").read_text()  # ERROR, not an old PASS


def test_a_suite_named_on_the_command_line_is_explicit(tmp_path):
    suite = tmp_path / "suites" / "latency" / "test_load.py"
    suite.parent.mkdir(parents=True)
    suite.touch()
    assert named_explicitly([str(suite)], Path("/"), suite)
    assert named_explicitly(["suites/latency/test_load.py::test_load"], tmp_path, suite)
    assert not named_explicitly([str(tmp_path / "suites")], Path("/"), suite)
    assert not named_explicitly(["-k", "load", "suites/latency"], tmp_path, suite)


def test_core_paths_import_no_extra():
    """The extras' packages are imported where they are used, never by the core's imports."""
    import subprocess

    code = (
        "import sys, mlcheck.cli, mlcheck.plugin, mlcheck.run.steps, mlcheck.run.parts, "
        "mlcheck.serving.app, mlcheck.run.artifacts, mlcheck.stack.session\n"
        "heavy = ['xgboost', 'lightgbm', 'locust', 'gevent', 'dask', 'distributed', 'bokeh', "
        "'evidently', 'testcontainers']\n"
        "print(' '.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
