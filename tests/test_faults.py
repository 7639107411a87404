"""Faults during a gate run: each one ends in exit 2 (could not decide) within 60 s of the
fault, names its cause, and never leaves a gate.json that says PASS.

The tests run the real `mlcheck gate` as a subprocess on a small suite (one calls `run_load`
directly, the step the load gate runs). Not repeated here: an unreachable registry
(tests/test_unreachable_registry.py) and Prometheus killed mid-run (tests/test_stack_e2e.py).
Each fault fails closed: exit 2, the cause named, within the budget, never a PASS.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlcheck.data.bank import BANK_FEATURES, generate
from mlcheck.errors import InfrastructureError
from mlcheck.models.demo import demo_data_path, demo_model_path
from mlcheck.models.training import train_xgboost
from mlcheck.probes.locust import LoadRun, run_load
from mlcheck.serving.process import free_port
from tests import gate_runner
from tests.conftest import fast_load

pytestmark = pytest.mark.slow

#: A fault must end the run within this many seconds of happening.
FAULT_BUDGET_S = 60
#: The hard bound of one gate subprocess (a hang shows as a TimeoutExpired, not a stuck test).
RUN_TIMEOUT_S = 240
#: One quick gate of the demo (the schema of the current data; no serving core).
ONE_SCHEMA_GATE = "suites/schema/test_schema.py::test_current_data_matches_schema"
OLDER_PASS = {"version": 1, "verdict": "PASS", "exit_code": 0, "gates": []}


@dataclass(frozen=True)
class GateRun:
    code: int
    stdout: str
    stderr: str
    started: float  # time.time(), comparable with a fault's stamp written by another process
    ended: float
    report_dir: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def gate_json(self) -> dict[str, Any] | None:
        """The report dir's gate.json, None when there is none."""
        path = self.report_dir / "gate.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def reasons(self) -> str:
        data = self.gate_json() or {}
        return "\n".join(gate.get("reason", "") for gate in data.get("gates", []))

    def tail(self) -> str:
        return f"exit {self.code} after {self.seconds:.1f} s\n{self.output[-4000:]}"


def run_gate(
    args: Sequence[str],
    report_dir: Path,
    env: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    pytest_args: Sequence[str] = (),
) -> GateRun:
    """`python -m mlcheck gate ARGS --report-dir REPORT_DIR [-- PYTEST_ARGS]` from the repo root,
    always in a new interpreter (`fresh`): the faults come from modules first on PYTHONPATH
    and from resource limits set by `preexec_fn`, which a forked run would not have."""
    argv = [*args, "--report-dir", str(report_dir)]
    if pytest_args:
        argv += ["--", *pytest_args]
    started = time.time()
    done = gate_runner.run_gate(
        argv, env=env, timeout=RUN_TIMEOUT_S, fresh=True, preexec_fn=preexec_fn
    )
    return GateRun(done.returncode, done.stdout, done.stderr, started, time.time(), report_dir)


def assert_fails_closed(run: GateRun, *causes: str, since: float | None = None) -> None:
    """Exit 2 within FAULT_BUDGET_S of the fault (`since`, else the start), every cause named
    in the output and in gate.json's reasons, and gate.json's verdict ERROR."""
    assert run.code == 2, run.tail()
    took = run.ended - (run.started if since is None else since)
    assert took < FAULT_BUDGET_S, f"took {took:.1f} s after the fault\n{run.tail()}"
    data = run.gate_json()
    assert data is not None, f"no gate.json\n{run.tail()}"
    assert data["verdict"] == "ERROR" and data["exit_code"] == 2, data
    for cause in causes:
        assert cause in run.output, f"{cause!r} not in the output\n{run.tail()}"
        assert cause in run.reasons(), f"{cause!r} not in gate.json's reasons:\n{run.reasons()}"


def with_pythonpath(folder: Path, **extra: str) -> dict[str, str]:
    """This environment with `folder` first on PYTHONPATH (and `extra` variables)."""
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **extra)


def older_pass(report_dir: Path) -> None:
    """A gate.json of an older run that passed, which this run must not leave behind."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "gate.json").write_text(json.dumps(OLDER_PASS), encoding="utf-8")


@pytest.fixture(scope="module")
def demo_ready() -> None:
    """The demo model and data exist before a run (so a fault, not the first training, is what
    a run meets; under a file-size limit the demo could not even be cached)."""
    demo_model_path()
    demo_data_path("reference")
    demo_data_path("current")


# 1. No Docker engine answers, and --stack containers was asked for.


def test_docker_engine_absent_for_stack_containers(tmp_path, demo_ready):
    host = "unix:///nonexistent/docker.sock"
    run = run_gate(
        ["suites/stack", "--stack", "containers"],
        tmp_path / "reports",
        env=dict(os.environ, DOCKER_HOST=host),
    )
    assert_fails_closed(run, "no Docker engine answers", f"DOCKER_HOST={host!r}")
    assert "start dockerd" in run.reasons() and "processes backend" in run.reasons()  # the fix
    data = run.gate_json() or {}
    assert {gate["outcome"] for gate in data["gates"]} == {"ERROR"}, data["gates"]


# 2. locust crashes: at start (its package does not import), or killed mid-run.

BROKEN_LOCUST = 'raise RuntimeError("mlcheck fault test: this locust is broken")\n'

#: Kills a `python -m locust` process (and only that) MLCHECK_FAULT_KILL_S seconds after it
#: starts, writing the time of the kill to MLCHECK_FAULT_STAMP first. The thread and its
#: sleep are bound before locust imports gevent and patches them.
KILL_LOCUST = textwrap.dedent(
    """\
    import os
    import sys

    _argv = list(getattr(sys, "orig_argv", ()))
    if "-m" in _argv[:-1] and _argv[_argv.index("-m") + 1] == "locust":
        import signal
        import threading
        import time
        from time import sleep as _sleep

        def _kill():
            _sleep(float(os.environ["MLCHECK_FAULT_KILL_S"]))
            with open(os.environ["MLCHECK_FAULT_STAMP"], "w") as stamp:
                stamp.write(repr(time.time()))
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=_kill, daemon=True).start()
    """
)


def test_locust_that_does_not_start(tmp_path, demo_ready):
    fake = tmp_path / "fake"
    (fake / "locust").mkdir(parents=True)
    (fake / "locust" / "__init__.py").write_text(BROKEN_LOCUST)
    run = run_gate(
        ["suites/latency/test_load.py", "--stack", "off"],
        tmp_path / "reports",
        env=with_pythonpath(fake),
    )
    # the gate's own pytest never imports locust: the failure is the subprocess's, with its tail
    assert_fails_closed(
        run, "locust exited with code 1 and wrote no stats", "this locust is broken"
    )


def test_run_load_with_a_locustfile_that_raises(tmp_path):
    locustfile = tmp_path / "broken_locustfile.py"
    locustfile.write_text(BROKEN_LOCUST)
    load = LoadRun(f"http://127.0.0.1:{free_port()}", fast_load(), tmp_path / "out", locustfile)
    started = time.monotonic()
    with pytest.raises(InfrastructureError) as raised:
        run_load(load)
    assert time.monotonic() - started < FAULT_BUDGET_S
    message = str(raised.value)
    assert "locust exited with code 1 and wrote no stats" in message, message
    assert "this locust is broken" in message, message  # the tail of locust's output


@pytest.fixture(scope="module")
def locust_killed(tmp_path_factory, demo_ready) -> tuple[GateRun, float]:
    """A load gate whose locust is SIGKILLed 5 s into its 20 s run; (the run, when killed)."""
    folder = tmp_path_factory.mktemp("locust-killed")
    (folder / "site").mkdir()
    (folder / "site" / "sitecustomize.py").write_text(KILL_LOCUST)
    stamp = folder / "killed-at"
    run = run_gate(
        ["suites/latency/test_load.py", "--stack", "off"],
        folder / "reports",
        env=with_pythonpath(
            folder / "site", MLCHECK_FAULT_KILL_S="5", MLCHECK_FAULT_STAMP=str(stamp)
        ),
    )
    assert stamp.is_file(), f"locust was not killed\n{run.tail()}"
    return run, float(stamp.read_text())


def test_locust_killed_mid_run(locust_killed):
    run, killed_at = locust_killed
    assert_fails_closed(run, "locust was killed by SIGKILL", since=killed_at)


# 3. The model directory is deleted after the gate loaded the model, before it is served.

DELETE_MODEL_PLUGIN = textwrap.dedent(
    """\
    import os
    import shutil
    import time

    import pytest


    @pytest.fixture(scope="session", autouse=True)
    def _delete_the_model_after_it_loaded(mlcheck_model):
        path = mlcheck_model.info.path  # loaded in this process
        shutil.rmtree(path)
        with open(os.environ["MLCHECK_FAULT_STAMP"], "w") as stamp:
            stamp.write(repr(time.time()))
    """
)


@pytest.fixture(scope="module")
def fault_model(tmp_path_factory) -> tuple[Path, Path]:
    """A small XGBoost model (40 rounds on 3,000 rows) and a CSV of its data."""
    folder = tmp_path_factory.mktemp("fault-model")
    frame = generate(3000, 11)
    data = folder / "bank.csv"
    frame.to_csv(data, index=False)
    model = train_xgboost(frame, folder / "xgb", target="y", rounds=40, features=BANK_FEATURES)
    return model, data


def gate_with_model_deleted(folder: Path, fault_model: tuple[Path, Path], suite: str) -> GateRun:
    """Gate `suite` on a copy of the model that a `-p` plugin deletes once it was loaded."""
    model, data = fault_model
    copy = folder / "model"
    shutil.copytree(model, copy)
    (folder / "plugin").mkdir()
    (folder / "plugin" / "mlcheck_fault_plugin.py").write_text(DELETE_MODEL_PLUGIN)
    stamp = folder / "deleted-at"
    args = [suite, "--model", str(copy), "--reference", str(data), "--current", str(data)]
    run = run_gate(
        [*args, "--stack", "off"],
        folder / "reports",
        env=with_pythonpath(folder / "plugin", MLCHECK_FAULT_STAMP=str(stamp)),
        pytest_args=["-p", "mlcheck_fault_plugin"],
    )
    assert stamp.is_file() and not copy.exists(), f"the plugin did not run\n{run.tail()}"
    return run


def test_model_deleted_between_load_and_serve(tmp_path, fault_model):
    run = gate_with_model_deleted(
        tmp_path,
        fault_model,
        "suites/model_quality/test_serving.py::test_served_scores_match_model",
    )
    deleted_at = float((tmp_path / "deleted-at").read_text())
    assert_fails_closed(run, "the serving core for model=", "before it was ready", since=deleted_at)
    # serve's own error: which model, and that it is not there
    assert f"model={str(tmp_path / 'model')!r} is neither a known URI nor an existing path" in (
        run.reasons()
    )


def test_model_deleted_before_the_mlflow_parity_gate(tmp_path, fault_model):
    suite = "suites/model_quality/test_serving.py::test_mlflow_serves_the_model_as_mlcheck_does"
    run = gate_with_model_deleted(tmp_path, fault_model, suite)
    deleted_at = float((tmp_path / "deleted-at").read_text())
    assert_fails_closed(run, str(tmp_path / "model"), since=deleted_at)


# 4. The report directory is full: a file-size limit (RLIMIT_FSIZE) on the gate and all it
# starts. CPython ignores SIGXFSZ, so a write past the limit fails with EFBIG ("File too
# large") instead of killing the process: no run here ends by a signal.


def file_size_limit(size: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.fixture(scope="module")
def report_dir_full(tmp_path_factory, demo_ready) -> GateRun:
    """One schema gate under a 20 kB file-size limit: gate.json and summary.md fit, pytest-html's
    self-contained report.html (about 33 kB) does not. An older PASS gate.json is there."""
    reports = tmp_path_factory.mktemp("report-dir-full") / "reports"
    older_pass(reports)
    return run_gate(
        [ONE_SCHEMA_GATE, "--stack", "off"], reports, preexec_fn=file_size_limit(20_000)
    )


def test_report_dir_full_fails_closed(report_dir_full):
    run = report_dir_full
    assert run.code == 2, run.tail()  # never 0, and not killed by SIGXFSZ (a negative code)
    assert run.seconds < FAULT_BUDGET_S, run.tail()
    assert "OSError: [Errno 27] File too large" in run.stderr, run.tail()
    data = run.gate_json()
    assert data is not None and data["verdict"] == "ERROR", (data, run.tail())
    assert data["context"].get("run_id"), data  # this run's, not the older PASS


def test_report_dir_full_names_the_cause(report_dir_full):
    run = report_dir_full
    assert "File too large" in run.reasons(), run.reasons()


def test_report_dir_that_takes_no_gate_json(tmp_path, demo_ready):
    # 300 bytes: not even the ERROR gate.json written at the start of the run fits.
    reports = tmp_path / "reports"
    older_pass(reports)
    run = run_gate([ONE_SCHEMA_GATE, "--stack", "off"], reports, preexec_fn=file_size_limit(300))
    assert run.code == 2, run.tail()
    assert run.seconds < FAULT_BUDGET_S, run.tail()
    assert "mlcheck gate: error:" in run.stderr and str(reports) in run.stderr, run.tail()
    assert "Traceback" not in run.stderr, run.tail()
    data = run.gate_json()
    assert data is None or data["verdict"] == "ERROR", data  # no older PASS left behind


@pytest.mark.slow
def test_serve_startup_errors_name_the_option_and_load_the_model_once(tmp_path):
    """A port in use is exit 2 naming --port (uvicorn exits 3, unnamed); --capture naming a
    file is exit 2 naming it (not "[Errno 17] File exists"); a server starts with one load."""
    import socket

    def serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlcheck", "serve", "--model", str(demo_model_path()), *args],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = serve("--port", str(port))
    assert run.returncode == 2 and f"--port={port} is in use" in run.stderr, run.stderr[-2000:]
    a_file = tmp_path / "capture"
    a_file.write_text("")
    run = serve("--port", str(free_port()), "--capture", str(a_file))
    assert run.returncode == 2 and f"--capture='{a_file}' is a file" in run.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlcheck", "serve", "--model", str(demo_model_path()),
         "--port", str(port), "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    starts = [line for line in output.splitlines() if '"event":"start"' in line]
    assert len(starts) == 1, output[-2000:]  # the model was loaded once
