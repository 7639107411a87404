"""Latency and load gates end to end: real uvicorn, real locust (as a subprocess)."""

import json
import subprocess
import sys
import textwrap

import pytest

from mlcheck.gates.load import load_gates, request_count_gate
from mlcheck.models.demo import demo_data_path, demo_model_path
from mlcheck.probes.http import predict_requests_counted
from mlcheck.serving.config import ServingConfig
from mlcheck.serving.process import ServedModel
from tests.conftest import ROOT, fast_load, pyfunc_from_code, short_load
from tests.gate_runner import run_gate

pytestmark = pytest.mark.slow


MODEL_CODE = """
import time
import numpy as np
import mlflow
from mlflow.pyfunc import PythonModel


class Model(PythonModel):
    def predict(self, context, model_input, params=None):
        {body}


mlflow.models.set_model(Model())
"""


def _pyfunc(tmp_path, name, body):
    """A demo-signature pyfunc model whose predict runs `body`."""
    code = MODEL_CODE.format(body=textwrap.indent(body, " " * 8).strip())
    return pyfunc_from_code(code, tmp_path, name)


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    body = "time.sleep(0.05)\nreturn np.full(len(model_input), 0.3)"
    return _pyfunc(tmp_path_factory.mktemp("slow"), "slow", body)


@pytest.fixture(scope="module")
def slow_served(slow_model):
    """The slow model's serving core, started once for the tests that only send it requests."""
    with ServedModel(ServingConfig(str(slow_model))) as served:
        yield served


@pytest.fixture(scope="module")
def failing_model(tmp_path_factory):
    body = (
        "if (model_input['age'] > 60).any():\n"
        "    raise ValueError('age out of the range this model knows')\n"
        "return np.full(len(model_input), 0.3)"
    )
    return _pyfunc(tmp_path_factory.mktemp("failing"), "failing", body)


@pytest.fixture
def tight_policy(tmp_path):
    path = tmp_path / "gates.toml"
    path.write_text(
        "[latency]\nhttp_p95_ms = 25\nhttp_requests = 120\n"
        "[load]\nusers = 8\nspawn_rate = 8\nrun_time_s = 5\np95_ms = 25\nmin_rps = 5\n"
    )
    return path


def _gate(*args, report_dir):
    return run_gate([*args, "--report-dir", report_dir])


def test_slow_model_is_blocked_by_http_latency_and_load(tmp_path, slow_model, tight_policy):
    run = _gate(
        "suites/latency/test_latency.py::test_http_latency",
        "suites/latency/test_load.py",
        "--model",
        str(slow_model),
        "--current",
        str(demo_data_path("current")),
        "--policy",
        str(tight_policy),
        report_dir=tmp_path,
    )
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    gates = {g["name"]: g for g in json.loads((tmp_path / "gate.json").read_text())["gates"]}
    for name in ("latency.http.p95", "load.p95"):
        assert gates[name]["outcome"] == "FAIL"
        assert gates[name]["value"] >= 50 and gates[name]["threshold"] == 25
    assert "latency.http.p95: p95_ms=" in run.stdout and "<= 25 FAIL" in run.stdout
    assert (tmp_path / "load.html").is_file() and (tmp_path / "load_stats.csv").is_file()


def test_standalone_locust_exits_non_zero_on_a_slow_model(tmp_path, slow_served, tight_policy):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "suites/load.py",
            "--headless",
            "-u",
            "5",
            "-r",
            "5",
            "-t",
            "4s",
            "--host",
            slow_served.url,
            "--mlcheck-policy",
            str(tight_policy),
            "--mlcheck-current",
            str(demo_data_path("current")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr[-3000:]
    assert "load.p95: p95_ms=" in run.stderr and "<= 25 FAIL" in run.stderr
    assert "load.failures: failure_ratio=0 <= 0.0500 PASS" in run.stderr


def test_a_model_that_raises_is_blocked_by_the_failure_ratio(tmp_path, failing_model):
    with ServedModel(ServingConfig(str(failing_model))) as served:
        stats, code, _ = short_load(served.url, tmp_path)
    gates = {g.name: g for g in load_gates(stats, fast_load())}
    assert code == 1 and gates["load.failures"].outcome.value == "FAIL"
    assert stats.failure_ratio > 0.05


def test_two_serving_workers_count_every_request(tmp_path):
    with ServedModel(ServingConfig(str(demo_model_path()), workers=2)) as served:
        before = predict_requests_counted(served.url)
        stats, code, output = short_load(served.url, tmp_path)
        counted = predict_requests_counted(served.url) - before
    assert code == 0, output[-3000:]
    assert stats.requests > 100
    gate = request_count_gate(stats.requests, counted)
    assert gate.passed, gate.message


def test_locust_with_worker_processes(tmp_path):
    with ServedModel(ServingConfig(str(demo_model_path()))) as served:
        stats, code, output = short_load(served.url, tmp_path, workers=2)
    assert code == 0, output[-3000:]
    assert stats.workers == 2 and stats.requests > 100


def test_a_slow_model_does_not_hold_the_event_loop(slow_served):
    """A pyfunc's predict (50 ms asleep here) runs in a worker thread: eight concurrent
    requests overlap instead of queueing behind each other on the event loop."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from mlcheck.data.io import read_table
    from mlcheck.probes.http import post_json, records_from_frame

    frame = read_table(demo_data_path("current"), "--current").head(1)
    record = records_from_frame(frame, list(frame.columns.drop("y")))[0]
    url = f"{slow_served.url}/predict"
    assert post_json(url, record)[0] == 200  # warm
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = [s for s, _ in pool.map(lambda _: post_json(url, record), range(8))]
    elapsed = time.monotonic() - started
    assert statuses == [200] * 8
    assert elapsed < 8 * 0.05 * 0.75, elapsed  # serial on the loop would take >= 0.4 s


def test_the_model_is_timed_when_the_gate_starts_inside_an_xdist_worker(tmp_path, monkeypatch):
    """`mlcheck gate` started from a test under `pytest -n` inherits the worker's variables:
    its own pytest must still time the model, not skip the in-process latency gates."""
    from mlcheck.commands.gate import gate_environment

    outer = {"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_TESTRUNUID": "r", "PATH": "/bin"}
    assert gate_environment(outer) == {"PATH": "/bin"}
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    suite = "suites/latency/test_latency.py"
    run = _gate(
        f"{suite}::test_predict_one_row", f"{suite}::test_predict_batch", report_dir=tmp_path
    )
    assert (tmp_path / "gate.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    gates = {g["name"]: g for g in json.loads((tmp_path / "gate.json").read_text())["gates"]}
    assert {gates[n]["outcome"] for n in ("latency.predict.single", "latency.predict.batch")} == {
        "PASS"
    }, run.stdout[-3000:]
    assert run.returncode == 0


def test_latency_under_xdist_is_an_error_not_a_skip(tmp_path):
    """pytest-benchmark turns itself off in an xdist worker: the suite run there by pytest
    itself cannot time the model, and says so (exit 2), never SKIP with exit 0."""
    import os

    env = {**os.environ, "PYTEST_XDIST_WORKER": "gw0", "PYTEST_XDIST_WORKER_COUNT": "2"}
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "suites/latency/test_latency.py", "-k", "one_row",
            "--mlcheck-gate-reports", "--mlcheck-stack", "off",
            "--mlcheck-report-dir", str(tmp_path), "-p", "no:cacheprovider",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    gates = {g["name"]: g for g in json.loads((tmp_path / "gate.json").read_text())["gates"]}
    gate = gates["latency.predict.single"]
    assert gate["outcome"] == "ERROR", run.stdout[-3000:]
    assert "pytest-benchmark turns itself off under pytest-xdist (-n)" in gate["reason"]
    assert run.returncode == 2
