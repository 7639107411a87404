"""The stack's files and library, fast: rendering, rules (promtool), dashboard, compose,
backend choice, gates from fake Prometheus answers, MLflow logging when unreachable."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from mlcheck.errors import ConfigError, InfrastructureError
from mlcheck.gates.stack import alert_gate, prometheus_gates
from mlcheck.policy import StackPolicy
from mlcheck.probes.prometheus import (
    SERVING_JOB,
    PrometheusClient,
    duration,
    metric_names,
    next_scrape,
    read_window,
)
from mlcheck.probes.readings import Alert, Scrape
from mlcheck.results import GateResult, Outcome, SuiteResult
from mlcheck.serving.metrics import ServingMetrics
from mlcheck.serving.process import free_port
from mlcheck.stack import BACKENDS, choose_backend
from mlcheck.stack.config import (
    GATES_JOB,
    render_alert_rules,
    render_prometheus_config,
    target_of,
)
from mlcheck.stack.exporter import GateMetrics
from mlcheck.stack.files import stack_dir
from mlcheck.stack.images import _split, is_local_image, linked_libraries
from mlcheck.stack.mlflow_log import gate_run_params, log_gate_run, metric_key
from mlcheck.stack.session import STACK_OFF_REASON, StackSession
from tests.conftest import ROOT

STACK = ROOT / "stack"
PROMTOOL = shutil.which("promtool")


def exported_metric_names() -> set[str]:
    """Every series name the serving core's /metrics can carry, plus Prometheus' own `up`."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names = {"up"}
    for family in ServingMetrics().registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def gate_metric_names() -> set[str]:
    return {family.name for family in GateMetrics().registry.collect()}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool; without it the test skips on a developer's machine and fails in CI."""
    if PROMTOOL is None:
        missing = "promtool is missing: apt-get install prometheus (scripts/stack-setup.sh does)"
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must check the alert rules with it")
        pytest.skip(missing)
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


# --- the files in stack/ ---------------------------------------------------------------------


def test_stack_dir_is_the_repository_folder():
    assert stack_dir() == STACK


def test_stack_dir_env_must_point_at_a_stack_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("MLCHECK_STACK_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"MLCHECK_STACK_DIR=.*no alerts\.yml"):
        stack_dir()


def test_promtool_checks_the_rules_and_the_compose_config():
    rules = promtool("check", "rules", str(STACK / "alerts.yml"))
    assert rules.returncode == 0 and "6 rules found" in rules.stdout, rules.stdout + rules.stderr
    config = promtool("check", "config", str(STACK / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_unit_tests_of_every_alert_pass():
    run = promtool("test", "rules", str(STACK / "alerts_test.yml"))
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


def _alerts(path: Path) -> dict[str, dict]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_every_alert_has_a_firing_and_a_silent_promtool_case():
    names = set(_alerts(STACK / "alerts.yml"))
    assert names == {
        "MlcheckServingDown",
        "MlcheckHighErrorRate",
        "MlcheckHighLatencyP95",
        "MlcheckLowModelAccuracy",
        "MlcheckHighModelRmse",
        "MlcheckDataDrift",
    }
    cases = [
        case
        for test in yaml.safe_load((STACK / "alerts_test.yml").read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    fired = {c["alertname"] for c in cases if c["exp_alerts"]}
    silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fired == names and silent == names


def test_alert_rules_name_only_metrics_the_run_exports():
    known = exported_metric_names() | gate_metric_names()
    for name, rule in _alerts(STACK / "alerts.yml").items():
        used = metric_names(rule["expr"])
        assert used and used <= known, f"{name} uses {used - known}"


def test_production_for_durations_are_minutes():
    durations = {name: rule["for"] for name, rule in _alerts(STACK / "alerts.yml").items()}
    assert all(value.endswith("m") for value in durations.values()), durations


def test_dashboard_queries_name_only_metrics_the_serving_core_exports():
    dashboard = json.loads((STACK / "grafana" / "dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    exported = exported_metric_names()
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= exported, f"{expr!r} names {names - exported}, not exported"
        used |= names
    # the dashboard shows every family of the serving core
    families = {n.removesuffix("_total") for n in exported} - {"up"}
    assert {n.removesuffix("_total") for n in used} >= families - {
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
        "ml_prediction_confidence_count",
        "ml_prediction_confidence_sum",
    }


def test_dashboard_ids_and_grid_are_consistent():
    dashboard = json.loads((STACK / "grafana" / "dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "prometheus"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    datasource = yaml.safe_load(
        (STACK / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["uid"] == "prometheus"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="1", y=~"$v"}[$__rate_interval]))', {"a_bucket"}),
        ("a_total / on(instance) group_left b > 1e3 and c offset 5m", {"a_total", "b", "c"}),
        ('histogram_quantile(0.95, x{le!="+Inf"}) unless bool 0', {"x"}),
        ("max(timestamp(up))", {"up"}),
    ],
)
def test_metric_names_of_promql(expr, names):
    assert metric_names(expr) == names


def test_compose_runs_the_four_services_on_loopback_with_the_stack_files():
    compose = yaml.safe_load((STACK / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"serving", "prometheus", "grafana", "mlflow"}
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    mounts = services["prometheus"]["volumes"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    for mount in mounts + services["grafana"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (STACK / source).exists(), mount
    serving_target = yaml.safe_load((STACK / "prometheus.yml").read_text())["scrape_configs"][0]
    assert serving_target["static_configs"][0]["targets"] == ["serving:8000"]
    assert (ROOT / services["serving"]["build"]["dockerfile"]).is_file()
    assert "--allowed-hosts" in " ".join(services["mlflow"]["command"])


def test_setup_scripts_are_valid_bash():
    for script in ("stack-setup.sh", "stack-teardown.sh"):
        run = subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], capture_output=True)
        assert run.returncode == 0, run.stderr


# --- rendering the run's config ---------------------------------------------------------------


def test_duration_and_target():
    assert duration(1) == "1s" and duration(0.5) == "500ms" and duration(2.25) == "2250ms"
    assert target_of("http://127.0.0.1:8123") == "127.0.0.1:8123"
    with pytest.raises(ConfigError, match="duration"):
        duration(0)
    with pytest.raises(ConfigError, match=re.escape("url='127.0.0.1:80'")):
        target_of("127.0.0.1:80")


def test_rendered_config_scrapes_the_serving_core_and_the_gates(tmp_path):
    rules = render_alert_rules(tmp_path / "alerts.yml", 2)
    config = render_prometheus_config(
        tmp_path / "prometheus.yml",
        "http://127.0.0.1:40001",
        rules,
        0.5,
        gates_url="http://127.0.0.1:40002",
    )
    data = yaml.safe_load(config.read_text())
    assert data["global"]["scrape_interval"] == "500ms"
    assert data["global"]["evaluation_interval"] == "500ms"
    assert data["rule_files"] == [str(rules.resolve())]
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in data["scrape_configs"]}
    assert jobs == {SERVING_JOB: ["127.0.0.1:40001"], GATES_JOB: ["127.0.0.1:40002"]}
    check = promtool("check", "config", str(config))
    assert check.returncode == 0, check.stdout + check.stderr


def test_rendered_rules_only_shorten_the_for_durations(tmp_path):
    original = _alerts(STACK / "alerts.yml")
    rendered = _alerts(render_alert_rules(tmp_path / "alerts.yml", 1.5))
    assert set(rendered) == set(original)
    for name, rule in rendered.items():
        assert rule["for"] == "1500ms"
        assert {k: v for k, v in rule.items() if k != "for"} == {
            k: v for k, v in original[name].items() if k != "for"
        }
    check = promtool("check", "rules", str(tmp_path / "alerts.yml"))
    assert check.returncode == 0, check.stdout + check.stderr


# --- choosing a backend -----------------------------------------------------------------------


def test_an_unknown_backend_names_the_choices():
    with pytest.raises(ConfigError, match=r"--mlcheck-stack='docker'.*auto, containers, processes"):
        choose_backend("docker", StackPolicy())


def test_off_is_a_visible_skip():
    backend, reason = choose_backend("off", StackPolicy())
    assert backend is None and "--mlcheck-stack=off" in reason and "skipped" in reason


def test_processes_without_prometheus_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfrastructureError, match="apt-get install prometheus"):
        choose_backend("processes", StackPolicy())


def test_containers_without_an_engine_says_start_dockerd(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="start dockerd"):
        choose_backend("containers", StackPolicy())
    assert time.monotonic() - started < 10


def test_auto_falls_back_to_processes_and_says_why(monkeypatch, tmp_path):
    if shutil.which("prometheus") is None:
        missing = "prometheus is missing: apt-get install prometheus (stack-setup.sh does)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    backend, reason = choose_backend("auto", StackPolicy())
    assert backend is BACKENDS["processes"] and backend.name == "processes"
    assert "containers unavailable" in reason and "no Docker engine" in reason


def test_auto_with_nothing_available_names_both_fixes(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfrastructureError) as caught:
        choose_backend("auto", StackPolicy())
    text = str(caught.value)
    assert "start dockerd" in text and "apt-get install prometheus" in text
    assert "--mlcheck-stack=off" in text


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_choosing_processes_kills_no_orphan_and_starting_does(monkeypatch, tmp_path):
    """`mlcheck stack which` only looks: the cleanup of a killed run happens at start."""
    import contextlib

    from mlcheck.stack import processes

    monkeypatch.setattr(processes, "OWNERS_DIR", tmp_path)
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        record = tmp_path / f"orphan-{orphan.pid}.json"
        owner = {"owner": _dead_pid(), "pgid": orphan.pid, "name": "sleep"}
        record.write_text(json.dumps(owner))
        for requested in ("processes", "auto"):
            # whether the backend can run here or not, nothing is cleaned up
            with contextlib.suppress(InfrastructureError):
                choose_backend(requested, StackPolicy())
        assert record.exists() and orphan.poll() is None
        assert BACKENDS["processes"].remove_orphans() == 1
        assert orphan.wait(timeout=10) == -9 and not record.exists()
    finally:
        orphan.kill()
        orphan.wait()


def test_choosing_containers_removes_no_container_and_starting_does(monkeypatch):
    from types import SimpleNamespace

    from mlcheck.stack import containers

    class Orphan:
        def __init__(self) -> None:
            self.labels = {containers.OWNER_LABEL: str(_dead_pid())}
            self.removed = False

        def remove(self, force: bool) -> None:
            self.removed = force

    orphan = Orphan()
    client = SimpleNamespace(
        images=SimpleNamespace(get=lambda name: object()),  # every image exists
        containers=SimpleNamespace(list=lambda **_: [orphan]),
    )
    monkeypatch.setattr(containers, "docker_client", lambda: client)
    backend, reason = choose_backend("containers", StackPolicy())
    assert backend is BACKENDS["containers"] and "asked for" in reason
    backend, reason = choose_backend("auto", StackPolicy())
    assert backend is BACKENDS["containers"] and reason.startswith("auto: a Docker engine")
    assert not orphan.removed
    assert backend.remove_orphans() == 1 and orphan.removed


def test_start_stack_removes_orphans_first_and_names_the_backend(tmp_path):
    from mlcheck.stack import Service, start_stack

    calls: list[str] = []

    class Up(Service):
        def running(self) -> bool:
            return True

        def logs(self) -> str:
            return ""

        def stop(self) -> None:
            calls.append(f"stop {self.name}")

    class Fake:
        name = "fake"

        def check(self, policy, services):
            calls.append("check")

        def remove_orphans(self) -> int:
            calls.append("remove_orphans")
            return 0

        def start_prometheus(self, policy, config, work, port):
            raise AssertionError("only mlflow was asked for")

        def start_mlflow(self, policy, work, port):
            calls.append("start_mlflow")
            return Up("mlflow", self.name, f"http://127.0.0.1:{port}")

    url = "http://127.0.0.1:1"
    with start_stack(Fake(), "a test", url, tmp_path, StackPolicy(), services=("mlflow",)) as stack:
        assert stack.backend == "fake" and stack.reason == "a test"
        assert stack.describe().startswith("stack backend fake (a test): mlflow http://")
    assert calls == ["remove_orphans", "start_mlflow", "stop mlflow"]
    with pytest.raises(ConfigError, match="--mlcheck-stack=off"):
        start_stack(None, "off", url, tmp_path, StackPolicy())
    with pytest.raises(ConfigError, match=r"'grafana'.*use some of: prometheus, mlflow"):
        choose_backend("processes", StackPolicy(), services=("grafana",))


def test_a_missing_image_names_the_build_command():
    import docker.errors

    from mlcheck.stack.containers import check_images

    class Images:
        def get(self, name):
            raise docker.errors.ImageNotFound(name)

    class Client:
        images = Images()

    with pytest.raises(InfrastructureError, match="mlcheck stack build-images"):
        check_images(Client(), "mlcheck/prometheus:local")


def test_image_names():
    assert is_local_image("mlcheck/prometheus:local") and not is_local_image("prom/prometheus")
    assert _split("ghcr.io/mlflow/mlflow:v3.17.2") == ("ghcr.io/mlflow/mlflow", "v3.17.2")
    assert _split("localhost:5000/x") == ("localhost:5000/x", "latest")


def test_linked_libraries_finds_libc_of_a_dynamic_binary():
    libraries = {p.name for p in linked_libraries(Path("/bin/sh"))}
    assert any(name.startswith("libc.so") for name in libraries), libraries


def test_the_session_skips_when_the_stack_is_off(tmp_path):
    session = StackSession()
    assert session.start("off", StackPolicy(), "http://127.0.0.1:1") is None
    assert session.skipped == STACK_OFF_REASON
    params = {"model": "demo", "data": {}, "policy": None}
    assert session.finish(None, tmp_path, params) == STACK_OFF_REASON


# --- gates from Prometheus answers ------------------------------------------------------------


class FakePrometheus(PrometheusClient):
    """Answers p95 queries with a fixed value and records them."""

    def __init__(self, p95_s: float) -> None:
        super().__init__("http://127.0.0.1:9")
        self.p95_s = p95_s
        self.queries: list[tuple[str, float | None]] = []

    def query(self, expr, at=None):
        self.queries.append((expr, at))
        return [({}, self.p95_s)]


def _gates(client, before, after, sent):
    window = read_window(client, before, after, StackPolicy().scrape_interval_s)
    return {g.name: g for g in prometheus_gates(window, sent, StackPolicy())}


def test_gates_are_counter_differences_between_two_scrapes():
    client = FakePrometheus(0.012)
    before = Scrape(at=100.0, requests=50, errors=1, predictions=60)
    after = Scrape(at=107.0, requests=1050, errors=21, predictions=3060)
    gates = _gates(client, before, after, 1000)
    assert gates["stack.prometheus.requests"].outcome is Outcome.PASS
    assert gates["stack.prometheus.requests"].details["predictions"] == 3000
    assert gates["stack.prometheus.error_ratio"].value == pytest.approx(0.02)
    assert gates["stack.prometheus.p95_ms"].value == pytest.approx(12.0)
    query, at = client.queries[0]
    assert at == 107.0 and "[7500ms]" in query and "histogram_quantile(0.95" in query


def test_lost_requests_slow_p95_and_errors_fail():
    client = FakePrometheus(0.75)
    before = Scrape(at=0.0, requests=0, errors=0, predictions=0)
    after = Scrape(at=6.0, requests=990, errors=100, predictions=990)
    gates = _gates(client, before, after, 1000)
    assert gates["stack.prometheus.requests"].outcome is Outcome.FAIL
    assert "locust sent 1000, /metrics counted 990" in gates["stack.prometheus.requests"].reason
    assert gates["stack.prometheus.p95_ms"].outcome is Outcome.FAIL
    assert gates["stack.prometheus.error_ratio"].outcome is Outcome.FAIL


def test_a_restarted_serving_core_or_no_traffic_cannot_be_decided():
    client = FakePrometheus(0.01)
    restarted = _gates(client, Scrape(0, 500, 0, 500), Scrape(5, 20, 0, 20), 20)
    assert {g.outcome for g in restarted.values()} == {Outcome.ERROR}
    idle = _gates(client, Scrape(0, 5, 0, 5), Scrape(5, 5, 0, 5), 0)
    assert idle["stack.prometheus.p95_ms"].outcome is Outcome.ERROR
    assert idle["stack.prometheus.requests"].outcome is Outcome.PASS


def test_an_unreachable_prometheus_fails_fast():
    client = PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="stopped answering"):
        next_scrape(client)
    assert time.monotonic() - started < 5


# --- the gate exporter ------------------------------------------------------------------------


def test_gate_metrics_publish_accuracy_and_drift():
    metrics = GateMetrics(model="demo")
    metrics.observe(GateResult("quality.accuracy", Outcome.PASS, "accuracy", value=0.93))
    metrics.observe(GateResult("drift.dataset", Outcome.FAIL, "drifted share", value=0.6))
    metrics.observe(GateResult("quality.rmse", Outcome.FAIL, "rmse", value=12.5, threshold=10.0))
    metrics.observe(GateResult("load.p95", Outcome.ERROR, "p95_ms"))
    metrics.observe(GateResult("schema.inputs", Outcome.SKIP, "-"))
    url = metrics.start()
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        metrics.stop()
    assert 'ml_model_accuracy{model="demo"} 0.93' in text
    assert 'ml_data_drift_share{model="demo"} 0.6' in text
    assert 'ml_model_rmse{model="demo"} 12.5' in text
    assert 'ml_model_rmse_threshold{model="demo"} 10.0' in text
    assert 'ml_data_drift_detected{model="demo"} 1.0' in text
    assert 'mlcheck_gate_passed{gate="load.p95"} 0.0' in text
    assert 'gate="schema.inputs"' not in text


# --- MLflow logging ---------------------------------------------------------------------------


def test_metric_keys_are_mlflow_safe():
    assert metric_key("quality.slice.job") == "quality.slice.job"
    assert metric_key("suites/x.py::test_y[a=b]") == "suites/x.py::test_y_a_b"
    assert metric_key("[]") == "gate"


def test_run_params_hash_the_data_and_the_policy(tmp_path):
    data = tmp_path / "current.csv"
    data.write_text("a,b\n1,2\n")
    policy = tmp_path / "gates.toml"
    policy.write_text("[stack]\n")
    params = gate_run_params("demo", {"current": data, "reference": None}, policy, extra=1)
    assert params["model"] == "demo" and params["extra"] == "1"
    assert len(params["data.current.sha256"]) == 64 and "data.reference" not in params
    assert params["policy"] == str(policy) and len(params["policy.sha256"]) == 64


def test_logging_to_an_unreachable_mlflow_fails_fast(tmp_path):
    suite = SuiteResult.of([GateResult("quality.auc", Outcome.PASS, "roc_auc", value=0.9)])
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="does not answer /health"):
        log_gate_run(f"http://127.0.0.1:{free_port()}", suite, tmp_path, {"model": "demo"})
    assert time.monotonic() - started < 10


def test_logging_needs_an_http_tracking_uri(tmp_path):
    suite = SuiteResult.of([])
    with pytest.raises(ConfigError, match=re.escape("tracking_uri='sqlite:///x.db'")):
        log_gate_run("sqlite:///x.db", suite, tmp_path, {})


def test_the_stack_library_imports_neither_pytest_nor_docker_eagerly():
    modules = ", ".join(
        f"mlcheck.stack.{name}"
        for name in ("session", "mlflow_log", "images", "launch", "config", "exporter")
    )
    modules += ", mlcheck.probes.prometheus, mlcheck.gates.stack, mlcheck.run.steps"
    code = (
        f"import sys, mlcheck.stack, {modules}; "
        "print(sorted(m for m in ('pytest', 'docker', 'testcontainers', 'mlflow') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_alert_gate_blocks_on_serving_alerts_and_leaves_evaluation_alerts_to_their_gates():
    accuracy = Alert("MlcheckLowModelAccuracy", "firing")
    errors = Alert("MlcheckHighErrorRate", "firing")
    latency = Alert("MlcheckHighLatencyP95", "pending")
    only_accuracy = alert_gate([accuracy, latency])
    assert only_accuracy.passed
    assert "MlcheckLowModelAccuracy fires too (quality.accuracy decides)" in only_accuracy.reason
    assert only_accuracy.details["pending"] == ["MlcheckHighLatencyP95"]
    blocked = alert_gate([accuracy, errors])
    assert not blocked.passed and blocked.reason.startswith("firing: MlcheckHighErrorRate")
