"""The composite action (action.yml) and the workflow that uses it."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "quality-gate.yml"

INPUT_DEFAULTS = {
    "model": "demo",
    "reference": "",
    "current": "",
    "target": "",
    "policy": "",
    "stack": "containers",
    "report-dir": "reports",
    "python-version": "3.11",
    "mlcheck-version": "",
    "extra-args": "",
    "artifact-name": "",
    "extras": "all",
    "requirements": "",
    "cache": "true",
}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return _load(ACTION)


@pytest.fixture(scope="module")
def steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    return action["runs"]["steps"]


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return _load(WORKFLOW)


def test_is_a_composite_action(action):
    assert action["runs"]["using"] == "composite"
    assert action["name"] and action["description"]


@pytest.mark.parametrize(("name", "default"), sorted(INPUT_DEFAULTS.items()))
def test_inputs_and_defaults(action, name, default):
    spec = action["inputs"][name]
    assert str(spec["default"]) == default
    assert spec.get("description")


def test_outputs_come_from_the_gate_step(action, steps):
    outputs = action["outputs"]
    assert set(outputs) >= {"verdict", "exit-code"}
    assert "gate" in {step.get("id") for step in steps}
    assert outputs["verdict"]["value"] == "${{ steps.gate.outputs.verdict }}"
    assert outputs["exit-code"]["value"] == "${{ steps.gate.outputs.exit-code }}"


def test_sets_up_python_with_the_input(steps):
    setup = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert len(setup) == 1
    assert setup[0]["uses"] == "actions/setup-python@v6"
    assert setup[0]["with"]["python-version"] == "${{ inputs.python-version }}"


def _run_steps(*documents: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for doc in documents:
        if "runs" in doc:
            found += [s for s in doc["runs"]["steps"] if "run" in s]
        for job in doc.get("jobs", {}).values():
            found += [s for s in job.get("steps", []) if "run" in s]
    return found


def test_run_scripts_take_inputs_through_env(action, workflow):
    scripts = _run_steps(action, workflow)
    assert scripts
    for step in scripts:
        assert "${{ inputs." not in step["run"], step.get("name")
        assert "${{ github.event" not in step["run"], step.get("name")


def test_composite_run_steps_name_their_shell(steps):
    assert all(step.get("shell") == "bash" for step in steps if "run" in step)


def test_gate_step_maps_every_gate_input(steps):
    gate = next(step for step in steps if step.get("id") == "gate")
    mapped = " ".join(str(value) for value in gate["env"].values())
    for name in ("model", "reference", "current", "target", "policy", "stack", "report-dir"):
        assert f"${{{{ inputs.{name} }}}}" in mapped
    assert "${{ inputs.extra-args }}" in mapped
    assert "set +e" in gate["run"] and "GITHUB_OUTPUT" in gate["run"]


def test_summary_md_is_not_appended_twice(steps):
    # `mlcheck gate` appends summary.md to the step summary itself.
    for step in steps:
        assert "summary.md" not in step.get("run", "")


def test_reports_are_uploaded_before_the_gate_code_fails_the_job(steps):
    uploads = [
        i
        for i, s in enumerate(steps)
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert len(uploads) == 1
    upload = steps[uploads[0]]
    assert upload["uses"] == "actions/upload-artifact@v6"
    assert upload["if"] == "always()"
    # named per job by default (mlcheck-reports-<job id>): two gate jobs do not clash
    assert upload["with"]["name"] == "${{ steps.plan.outputs.artifact-name }}"
    assert upload["with"]["path"] == "${{ inputs.report-dir }}"

    exits = [
        i
        for i, s in enumerate(steps)
        if "run" in s
        and "steps.gate.outputs.exit-code" in " ".join(map(str, s.get("env", {}).values()))
        and "exit " in s["run"]
    ]
    assert len(exits) == 1
    assert uploads[0] < exits[0] == len(steps) - 1


def _gate_action_step(workflow: dict[str, Any]) -> dict[str, Any]:
    gate_steps = [s for s in workflow["jobs"]["gate"]["steps"] if s.get("uses") == "./"]
    assert len(gate_steps) == 1
    return gate_steps[0]


def test_workflow_gate_job_uses_the_action(workflow, action):
    job = workflow["jobs"]["gate"]
    uses = [s.get("uses") for s in job["steps"]]
    assert uses.index("actions/checkout@v5") < uses.index("./")
    step = _gate_action_step(workflow)
    assert set(step["with"]) <= set(action["inputs"])
    assert step["with"]["stack"] == "containers"
    assert "secrets.MLFLOW_TRACKING_URI" in step["env"]["MLFLOW_TRACKING_URI"]
    assert job["outputs"]["verdict"] == f"${{{{ steps.{step['id']}.outputs.verdict }}}}"
    # The action uploads the reports; the job does not upload them again.
    assert not any(str(u).startswith("actions/upload-artifact@") for u in uses)


def test_workflow_keeps_the_official_stack_images(workflow):
    env = workflow["env"]
    assert env["MLCHECK_PROMETHEUS_IMAGE"].startswith("prom/prometheus:")
    assert env["MLCHECK_MLFLOW_IMAGE"].startswith("ghcr.io/mlflow/mlflow:")
    (gate,) = [s for s in workflow["jobs"]["gate"]["steps"] if s.get("uses") == "./"]
    assert gate["with"]["prometheus-image"] == "${{ env.MLCHECK_PROMETHEUS_IMAGE }}"


def test_the_action_pulls_and_uses_official_images_for_containers(action, steps):
    """On a runner the locally built images do not exist: the action pulls official ones and
    hands their names to the gate, so a workflow calling it (as `mlcheck init` writes) runs."""
    inputs = action["inputs"]
    assert inputs["prometheus-image"]["default"].startswith("prom/prometheus:")
    assert inputs["mlflow-image"]["default"].startswith("ghcr.io/mlflow/mlflow:")
    (pull,) = [s for s in steps if "docker pull" in s.get("run", "")]
    assert "containers" in pull["if"]
    gate = next(s for s in steps if s.get("id") == "gate")
    assert gate["env"]["MLCHECK_PROMETHEUS_IMAGE"] == "${{ inputs.prometheus-image }}"
    assert gate["env"]["MLCHECK_MLFLOW_IMAGE"] == "${{ inputs.mlflow-image }}"
    assert steps.index(pull) < steps.index(gate)


def test_deploy_downloads_the_artifact_the_action_uploads(workflow, action):
    step = _gate_action_step(workflow)
    uploaded = step.get("with", {}).get(
        "artifact-name", action["inputs"]["artifact-name"]["default"]
    )
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "gate"
    downloads = [
        s
        for s in deploy["steps"]
        if str(s.get("uses", "")).startswith("actions/download-artifact@")
    ]
    assert [s["with"]["name"] for s in downloads] == [uploaded]


def test_actionlint_passes():
    actionlint = Path(sys.executable).parent / "actionlint"
    assert actionlint.exists(), f"{actionlint} is missing; install the dev extras (setup.sh does)"
    out = subprocess.run(
        [str(actionlint)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
