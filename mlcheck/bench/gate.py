"""The whole gate: wall time and peak memory of `mlcheck gate` running every default suite but
stack and load (`suites()`: quality, estimated quality, compare, serving parity, schema and
data quality, drift and importance, latency) on the demo model, from 10k to 1M current rows,
and where the time goes (the per-input and per-test seconds each run's gate.json records).

Each size runs in a fresh process (`--stack off`: no services) against one 200,000-row
reference; the peak memory is the largest resident set among the gate's processes. The slope is
a least-squares line through (rows, seconds). Each run's seconds are also split by suite
folder, so the part that does not grow with the rows (the latency suite's fixed request
counts, start-up) shows beside the part that does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlcheck.bench.report import Section, markdown_table
from mlcheck.data.bank import generate
from mlcheck.data.io import write_table
from mlcheck.resources import resource as bundled

__all__ = ["gate_section", "suites"]

#: Left out: the services' suite and the fixed-time load runs (they do not grow with rows).
LEFT_OUT = ("stack/", "latency/test_load.py")


def suites() -> list[str]:
    """Every bundled suite file but those `LEFT_OUT`, relative to the suites folder: a new
    gate's suite shows in the bench's numbers without an edit here."""
    root = bundled("suites")
    files = sorted(path.relative_to(root).as_posix() for path in root.rglob("test_*.py"))
    return [name for name in files if not name.startswith(LEFT_OUT)]


_MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


#: Rows of the reference every size is judged against (the README's whole-gate command).
REFERENCE_ROWS = 200_000


def _suite_of(test: str) -> str:
    """`.../suites/drift/test_drift.py::test_x` -> `drift`."""
    path = test.split("::")[0].replace("\\", "/")
    return path.split("suites/")[-1].split("/")[0]


def _run(reference: Path, current: Path, report_dir: Path) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "mlcheck", "gate", "--stack", "off", "--model", "demo",
        "--reference", str(reference), "--current", str(current),
        "--report-dir", str(report_dir),
        *(str(bundled("suites", suite)) for suite in suites()),
    ]  # fmt: skip
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, timeout=900
    )
    seconds = time.perf_counter() - started
    peak_kib, code = map(int, out.stdout.split()[-2:])
    gate = json.loads((report_dir / "gate.json").read_text())
    timings = gate["context"].get("timings", {})
    quality = sum(t["seconds"] for t in timings.get("tests", []) if "test_quality.py" in t["test"])
    inputs = timings.get("inputs", {})
    by_suite: dict[str, float] = {}
    for t in timings.get("tests", []):
        suite = _suite_of(t["test"])
        by_suite[suite] = by_suite.get(suite, 0.0) + t["seconds"]
    return {
        "seconds": seconds,
        "peak_mib": peak_kib / 1024,
        "exit_code": code,
        "verdict": gate["verdict"],
        "intervals": sorted(
            {g["details"].get("interval", "") for g in gate["gates"] if "interval" in g["details"]}
        ),
        "inputs_s": inputs,
        # the drift suite runs first and loads the scores, so these are intervals and slices
        "quality_tests_s": quality,
        "tests_s": {t["test"].split("::")[-1]: t["seconds"] for t in timings.get("tests", [])},
        "suites_s": by_suite,
    }


def gate_section(
    sizes: tuple[int, ...] = (10_000, 100_000, 300_000, 1_000_000),
    reference_rows: int = REFERENCE_ROWS,
) -> Section:
    runs: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mlcheck-bench-gate-") as folder:
        reference = Path(folder) / "reference.parquet"
        write_table(generate(reference_rows, seed=1), reference)
        for rows in sizes:
            current = Path(folder) / f"current-{rows}.parquet"
            write_table(generate(rows, seed=2), current)
            runs[rows] = _run(reference, current, Path(folder) / f"reports-{rows}")
            current.unlink()
    x = np.array(sizes, dtype=float)
    y = np.array([runs[r]["seconds"] for r in sizes])
    slope, intercept = np.polyfit(x, y, 1) if len(sizes) > 1 else (float("nan"), float(y[0]))
    data = {
        "suites": suites(),
        "reference_rows": reference_rows,
        "runs": {str(r): run for r, run in runs.items()},
        "slope_s_per_million_rows": float(slope) * 1e6,
        "intercept_s": float(intercept),
    }
    lines = markdown_table(
        ["current rows", "wall s", "peak MiB", "verdict", "scoring s", "quality s", "intervals"],
        [
            (
                f"{rows:,}",
                run["seconds"],
                run["peak_mib"],
                run["verdict"],
                run["inputs_s"].get("scores", float("nan")),
                run["quality_tests_s"],
                ", ".join(run["intervals"]),
            )
            for rows, run in runs.items()
        ],
    )
    folders = sorted({name for run in runs.values() for name in run["suites_s"]})
    lines += [
        "",
        *markdown_table(
            ["current rows", *(f"{name} s" for name in folders)],
            [
                (f"{r:,}", *(run["suites_s"].get(n, 0.0) for n in folders))
                for r, run in runs.items()
            ],
        ),
        "",
        f"- slope: {data['slope_s_per_million_rows']:.1f} s per million rows on top of "
        f"{intercept:.1f} s (start-up, model load, reports); reference: {reference_rows:,} rows",
        "- scoring = the model's predict on every current row; quality = intervals and slices;",
        "  a suite's seconds are its tests' (the inputs they load first are in the first test's)",
    ]
    title = "Whole gate: every default suite but stack and load, on the demo model"
    return Section("gate", title, data, lines)
