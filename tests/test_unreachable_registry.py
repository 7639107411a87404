"""A registry or tracking server that does not answer: exit 2 in seconds, never a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from mlcheck.serving.process import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _mlcheck(*args: str, cwd, env) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mlcheck", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


@pytest.fixture
def dead_server_env():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP")}
    return url, dict(env, MLFLOW_TRACKING_URI=url)


def test_gate_on_a_registry_model_exits_2_within_60_s(tmp_path, dead_server_env):
    url, env = dead_server_env
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "gate.json").write_text('{"verdict": "PASS"}')  # an older run
    run, seconds = _mlcheck(
        "gate",
        "--model",
        "models:/nope@champion",
        "--reference",
        "r.csv",
        "--current",
        "c.csv",
        "--stack",
        "off",
        "--report-dir",
        str(tmp_path / "reports"),
        cwd=ROOT,
        env=env,
    )
    assert run.returncode == 2, run.stdout[-3000:] + run.stderr[-3000:]
    assert seconds < 60
    output = run.stdout + run.stderr
    assert url in output and "does not answer /health" in output and "MLFLOW_TRACKING_URI" in output
    assert json.loads((tmp_path / "reports" / "gate.json").read_text())["verdict"] == "ERROR"


def test_promote_exits_2_within_60_s(tmp_path, dead_server_env):
    url, env = dead_server_env
    gate_json = tmp_path / "gate.json"
    gate_json.write_text(
        json.dumps({"version": 1, "gates": [], "context": {"model": "models:/bank@challenger"}})
    )
    run, seconds = _mlcheck(
        "promote", "--name", "bank", "--gate-json", str(gate_json), cwd=tmp_path, env=env
    )
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert seconds < 60 and url in run.stderr and "does not answer /health" in run.stderr


def test_a_registry_that_accepts_and_never_answers_is_waited_on_once(tmp_path):
    """The first failure of a service is the run's: the model does not load, so the run stops
    at once with one ERROR gate, and does not wait on the registry again per gate."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])  # accepted, never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP")}
    try:
        run, seconds = _mlcheck(
            "gate", "--model", "models:/nope@champion", "--stack", "off",
            "--report-dir", str(tmp_path / "reports"),
            cwd=ROOT, env=dict(env, MLFLOW_TRACKING_URI=url),
        )  # fmt: skip
    finally:
        listener.close()
        for connection in held:
            connection.close()
    assert run.returncode == 2, run.stdout[-3000:] + run.stderr[-3000:]
    gates = json.loads((tmp_path / "reports" / "gate.json").read_text())["gates"]
    errors = {g["reason"] for g in gates if g["outcome"] == "ERROR" and url in g["reason"]}
    assert len(errors) == 1, errors  # one reason
    assert [g["name"] for g in gates] == ["mlcheck.model"]  # before any suite ran
    print(f"a registry that never answers: exit 2 after {seconds:.1f} s")
    assert seconds < 60
