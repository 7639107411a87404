"""Reports: index.html with plots, summary.md, `mlcheck report --from`, and the page in Chromium."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from mlcheck.reports import write_reports
from mlcheck.reports.plots import suite_plots
from mlcheck.results import Comparison, GateResult, Outcome, SuiteResult


def _suite(outcome=Outcome.FAIL):
    return SuiteResult.of(
        [
            GateResult(
                "quality.accuracy", outcome, "accuracy", 0.88, 0.9, Comparison.GE, (0.87, 0.89)
            ),
            GateResult(
                "quality.roc_auc", Outcome.PASS, "roc_auc", 0.91, 0.85, Comparison.GE, (0.9, 0.92)
            ),
            GateResult("drift.age", Outcome.PASS, "wasserstein", 0.02, 0.1, Comparison.LT),
            GateResult("drift.job", Outcome.FAIL, "chisquare", 0.001, 0.05, Comparison.GE),
            GateResult("load.p95", Outcome.PASS, "p95_ms", 12.0, 500.0, Comparison.LE),
            GateResult.error(
                "drift.duration", "column 'duration' is missing from the current data"
            ),
        ],
        model="demo",
    )


def test_reports_hold_the_verdict_table_plots_and_reasons(tmp_path):
    (tmp_path / "drift.html").write_text("<html></html>")
    write_reports(_suite(), tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert "COULD NOT DECIDE" in index and 'id="mlcheck-gate-table"' in index
    assert index.count('class="mlcheck-gate"') == 6
    assert "column &#x27;duration&#x27; is missing" in index
    assert '<a href="drift.html">' in index and '<a href="load.html">' not in index
    assert index.count("<svg") == 3
    summary = (tmp_path / "summary.md").read_text()
    assert (
        "| quality.accuracy | accuracy | 0.8800 | [0.8700, 0.8900] | >= 0.9000 | ❌ FAIL |"
        in summary
    )
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "ERROR"


def test_plots_only_when_there_is_something_to_show():
    assert suite_plots(SuiteResult.of([GateResult("x", Outcome.PASS, "checks")])) == {}


@pytest.mark.slow  # runs the mlcheck command
def test_report_command_re_renders_from_gate_json(tmp_path):
    write_reports(_suite(Outcome.PASS), tmp_path / "run")
    (tmp_path / "run" / "index.html").unlink()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlcheck",
            "report",
            "--from",
            str(tmp_path / "run" / "gate.json"),
            "--out",
            str(tmp_path / "again"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "again" / "index.html").is_file()
    assert (tmp_path / "again" / "gate.json").read_text() == (
        tmp_path / "run" / "gate.json"
    ).read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "mlcheck", "report", "--from", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--from=" in bad.stderr and "cannot be read" in bad.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed (CI installs Debian's chromium; this test then runs)",
)
@pytest.mark.slow  # starts a browser
def test_index_renders_the_gate_table_in_headless_chromium(tmp_path):
    assert CHROMIUM is not None, "CI must install chromium (apt-get install chromium)"
    write_reports(_suite(), tmp_path)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    page = (tmp_path / "index.html").as_uri()
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120
    )
    assert 'id="mlcheck-gate-table"' in dom.stdout, dom.stderr[-2000:]
    assert dom.stdout.count('class="mlcheck-gate"') == 6
    shot = tmp_path / "index.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
