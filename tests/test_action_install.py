"""The action's scripts: the model's requirements installed into mlcheck's own environment,
the artifact named per job, the pip cache keyed by what is installed, and bash 3.2 (macOS).

The install runs against a temporary virtual environment whose other packages come from this
one's site-packages (a .pth file) and a wheel made here: nothing is downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import site
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "action-install.sh"
ACTION = ROOT / "action.yml"

#: What bash 3.2 (macOS's /bin/bash) does not have.
BASH4 = {
    "associative arrays": r"(declare|local|typeset)\s+-[a-zA-Z]*A",
    "mapfile/readarray": r"\b(mapfile|readarray)\b",
    "case conversion": r"\$\{[A-Za-z_][A-Za-z_0-9]*(\[[^]]*\])?(,,?|\^\^?)",
    "[[ -v ]]": r"\[\[\s+-v\s",
    "&>> and |&": r"&>>|\|&",
    "coproc": r"\bcoproc\b",
    "an empty array under set -u": r'(?<![+])"\$\{[A-Za-z_][A-Za-z_0-9]*\[@\]\}"',
}


def _action() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _bash_sources() -> dict[str, str]:
    sources = {str(SCRIPT.relative_to(ROOT)): SCRIPT.read_text(encoding="utf-8")}
    for step in _action()["runs"]["steps"]:
        if "run" in step:
            sources[f"action.yml: {step['name']}"] = step["run"]
    return sources


@pytest.mark.parametrize("name", sorted(BASH4))
def test_the_action_keeps_to_bash_3_2(name):
    for where, text in _bash_sources().items():
        lines = (line.split(" # ")[0] for line in text.splitlines())
        code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
        assert not re.search(BASH4[name], code), f"{where} uses {name}"


def test_the_scripts_parse():
    for where, text in _bash_sources().items():
        out = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert out.returncode == 0, f"{where}: {out.stderr}"


def _plan(tmp_path: Path, **env: str) -> dict[str, str]:
    (step,) = [s for s in _action()["runs"]["steps"] if s.get("id") == "plan"]
    output = tmp_path / "output"
    output.write_text("")
    base = {
        "ACTION_PATH": str(ROOT),
        "ARTIFACT_NAME": "",
        "MLCHECK_VERSION": "",
        "MLCHECK_EXTRAS": "all",
        "MLCHECK_REQUIREMENTS": "",
        "MLCHECK_MODEL": "demo",
        "PYTHON_VERSION": "3.11",
        "GITHUB_JOB": "gate",
        "GITHUB_OUTPUT": str(output),
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "PATH": os.environ["PATH"],
    }
    subprocess.run(["bash", "-c", step["run"]], env={**base, **env}, check=True, cwd=tmp_path)
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_artifact_is_named_per_job_and_the_cache_by_what_is_installed(tmp_path):
    plan = _plan(tmp_path)
    assert plan["artifact-name"] == "mlcheck-reports-gate"
    assert _plan(tmp_path, GITHUB_JOB="gate-eu")["artifact-name"] == "mlcheck-reports-gate-eu"
    assert _plan(tmp_path, ARTIFACT_NAME="mine")["artifact-name"] == "mine"
    assert plan["cache-key"].startswith(plan["cache-prefix"] + "")
    assert plan["cache-prefix"] == "mlcheck-pip-Linux-X64-py3.11-"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("lightgbm==4.6.0\n")
    keyed = _plan(tmp_path, MLCHECK_REQUIREMENTS=str(requirements))["cache-key"]
    requirements.write_text("lightgbm==4.7.0\n")
    assert keyed != _plan(tmp_path, MLCHECK_REQUIREMENTS=str(requirements))["cache-key"]
    assert plan["cache-key"] != _plan(tmp_path, MLCHECK_EXTRAS="load")["cache-key"]


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel of one module `name` (no build backend, no index)."""
    dist = f"{name}-{version}"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh environment that sees this one's packages (mlcheck, mlflow, pip) through a .pth
    file, with an `mlcheck` command, as the action's `mlcheck` step leaves it."""
    path = tmp_path_factory.mktemp("action") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    theirs = next((path / "lib").glob("python*/site-packages"))
    (theirs / "dependencies.pth").write_text(f"{site.getsitepackages()[0]}\n{ROOT}\n")
    command = path / "bin" / "mlcheck"
    command.write_text(
        f"#!{path / 'bin' / 'python'}\nimport sys\nfrom mlcheck.cli import main\nsys.exit(main())\n"
    )
    command.chmod(0o755)
    return path


def _install(venv: Path, wheels: Path, **env: str) -> subprocess.CompletedProcess[str]:
    settings = dict(
        os.environ,
        MLCHECK_VENV=str(venv),
        ACTION_PATH=str(ROOT),
        RUNNER_TEMP=str(venv.parent),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
        PIP_CONSTRAINT="",
        **env,
    )
    return subprocess.run(
        ["bash", str(SCRIPT), "requirements"],
        env=settings,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _version(venv: Path, module: str) -> str:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import {module}; print({module}.VERSION)"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


def test_a_requirements_file_is_installed_into_mlchecks_environment(venv, tmp_path):
    _wheel(tmp_path, "mlcheck_probe_a", "1.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("mlcheck_probe_a==1.0\n")
    out = _install(venv, tmp_path, MLCHECK_REQUIREMENTS=str(requirements))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"installing the requirements in {requirements}" in out.stdout
    assert _version(venv, "mlcheck_probe_a") == "1.0"


def test_model_installs_the_mlflow_models_own_requirements(venv, tmp_path):
    _wheel(tmp_path, "mlcheck_probe_b", "2.0")
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    # mlflow's own pin is left out: mlcheck's mlflow loads the model
    (model / "requirements.txt").write_text("mlflow==2.0.1\nmlcheck_probe_b==2.0\n")
    out = _install(venv, tmp_path, MLCHECK_REQUIREMENTS="model", MLCHECK_MODEL=str(model))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "mlcheck_probe_b==2.0" in out.stdout and "mlflow==2.0.1" not in out.stdout
    assert _version(venv, "mlcheck_probe_b") == "2.0"


def test_what_cannot_be_installed_is_exit_2_naming_it(venv, tmp_path):
    out = _install(venv, tmp_path, MLCHECK_REQUIREMENTS=str(tmp_path / "nope.txt"))
    assert out.returncode == 2 and "nope.txt is not a file" in out.stderr
    out = _install(venv, tmp_path, MLCHECK_REQUIREMENTS="model", MLCHECK_MODEL="demo")
    assert out.returncode == 0 and "the demo model needs nothing" in out.stdout
