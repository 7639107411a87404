"""An interrupted gate run: exit 2, gate.json says ERROR, and nothing it started is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _marked(mark: str) -> list[int]:
    """Pids of live processes whose environment carries `mark`."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def _serving_core_answers(mark: str) -> bool:
    """Whether a serving core carrying `mark` (`mlcheck serve ... --port N`) answers /health."""
    for pid in _marked(mark):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if "serve" not in args or "--port" not in args:
            continue
        port = args[args.index("--port") + 1]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_gate_alone_stops_everything_and_leaves_error(tmp_path, sig):
    reports = tmp_path / "reports"
    reports.mkdir()
    older = {"version": 1, "verdict": "PASS", "exit_code": 0, "gates": [], "context": {}}
    (reports / "gate.json").write_text(json.dumps(older))
    mark = f"MLCHECK_TEST_MARK={uuid.uuid4().hex}"
    name, value = mark.split("=")
    env = dict(os.environ, **{name: value})
    gate = subprocess.Popen(
        [sys.executable, "-m", "mlcheck", "gate", "--stack", "off", "--report-dir", str(reports)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (reports / "report.html").exists() and time.monotonic() < deadline:
            if _serving_core_answers(mark):  # pytest and the serving core are up
                break
            time.sleep(0.2)
        assert gate.poll() is None, "the gate finished before it could be interrupted"
        during = json.loads((reports / "gate.json").read_text())
        assert during["verdict"] == "ERROR"  # the older PASS is gone as soon as the run starts
        started = time.monotonic()
        gate.send_signal(sig)  # to the gate's own pid only
        _, stderr = gate.communicate(timeout=90)
        took = time.monotonic() - started
    finally:
        if gate.poll() is None:
            gate.kill()
    assert gate.returncode == 2, stderr[-3000:]
    assert took < 60
    assert f"interrupted ({sig.name})" in stderr and "mlcheck gate: exit 2" in stderr
    data = json.loads((reports / "gate.json").read_text())
    assert data["verdict"] == "ERROR" and data["exit_code"] == 2
    assert any("interrupted" in g["reason"] for g in data["gates"])
    deadline = time.monotonic() + 1  # what it started is gone within a second
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(mark) == [], "a process the gate started is still running"
