"""The layers go one way (pyproject's [tool.importlinter] contracts, checked with import-linter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_imports_go_down_the_layers_only():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_the_contract_catches_an_import_that_goes_up(tmp_path):
    """A copy of the package where a statistic imports a gate must break the layers."""
    import shutil

    copy = tmp_path / "mlcheck"
    shutil.copytree(ROOT / "mlcheck", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "stats" / "timing.py").write_text(
        "from mlcheck.gates.latency import timing_gate  # an import that goes up\n",
        encoding="utf-8",
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stdout[-4000:]
    assert "mlcheck.stats.timing -> mlcheck.gates.latency" in done.stdout
