"""The gates over partitioned data on Dask: the quality, schema and drift suites with
`--engine dask` on a 2-worker `LocalCluster` (2 GiB a worker), from 2M to 20M current rows of
the demo's 14 features and label as Parquet partitions, against a 2M-row reference.

Each run is `mlcheck gate` in a fresh process; the wall time, rows per second (both data
sets' rows over the wall time), each worker's peak memory and the passes' seconds come from
its gate.json. On the smallest size the in-memory engine runs too, on the same files, and the
verdicts of every gate both decide are compared.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcheck.bench.report import Section, markdown_table
from mlcheck.data.bank import generate
from mlcheck.resources import resource as bundled

if TYPE_CHECKING:
    from mlcheck.data.partitions import Engine

__all__ = ["dask_section"]

SUITES = ("model_quality/test_quality.py", "schema", "drift")


def _partitions(folder: Path, rows: int, per_partition: int, seed: int) -> Path:
    """`rows` demo rows in Parquet files of `per_partition` rows (each its own seed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, rows, per_partition)):
        part = generate(min(per_partition, rows - start), seed=seed * 100_000 + index)
        part.to_parquet(folder / f"part-{index:04d}.parquet", index=False)
    return folder


def _run(reference: Path, current: Path, engine: Engine, report_dir: Path) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "mlcheck", "gate", "--stack", "off", "--model", "demo",
        "--engine", engine, "--reference", str(reference), "--current", str(current),
        "--report-dir", str(report_dir), *(str(bundled("suites", s)) for s in SUITES),
    ]  # fmt: skip
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    if out.returncode not in (0, 1):
        raise RuntimeError(f"mlcheck gate --engine {engine} exited {out.returncode}: "
                           f"{(out.stdout + out.stderr)[-1500:]}")  # fmt: skip
    gate = json.loads((report_dir / "gate.json").read_text())
    dask = gate["context"].get("dask", {})
    return {
        "seconds": seconds,
        "verdict": gate["verdict"],
        "outcomes": {g["name"]: g["outcome"] for g in gate["gates"]},
        "passes_s": dask.get("seconds", {}),
        "summary_s": gate["context"].get("timings", {}).get("inputs", {}).get("summary"),
        "worker_peak_mib": dask.get("worker_peak_mib", {}),
    }


def dask_section(
    sizes: tuple[int, ...] = (2_000_000, 10_000_000, 20_000_000),
    reference_rows: int = 2_000_000,
    per_partition: int = 500_000,
) -> Section:
    runs: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mlcheck-bench-dask-") as folder:
        root = Path(folder)
        reference = _partitions(root / "reference", reference_rows, per_partition, seed=1)
        for rows in sizes:
            current = _partitions(root / f"current-{rows}", rows, per_partition, seed=2)
            runs[rows] = _run(reference, current, "dask", root / f"reports-{rows}")
            runs[rows]["rows_per_s"] = (rows + reference_rows) / runs[rows]["seconds"]
            if rows == sizes[0]:
                local = _run(reference, current, "local", root / "reports-local")
            for part in current.iterdir():
                part.unlink()
    smallest = runs[sizes[0]]["outcomes"]
    decided = {n: o for n, o in smallest.items() if o != "SKIP"}
    differ = sorted(n for n, o in decided.items() if local["outcomes"].get(n) != o)
    x = np.array(sizes, dtype=float)
    y = np.array([runs[r]["seconds"] for r in sizes])
    slope, intercept = np.polyfit(x, y, 1) if len(sizes) > 1 else (float("nan"), float(y[0]))
    data = {
        "suites": list(SUITES),
        "reference_rows": reference_rows,
        "rows_per_partition": per_partition,
        "workers": 2,
        "worker_memory_limit": "2GiB",
        "runs": {str(r): run for r, run in runs.items()},
        "local_on_smallest": {"seconds": local["seconds"], "verdict": local["verdict"]},
        "same_verdicts": not differ,
        "gates_compared": len(decided),
        "differing_gates": differ,
        "slope_s_per_million_rows": float(slope) * 1e6,
        "intercept_s": float(intercept),
    }
    lines = markdown_table(
        ["current rows", "wall s", "rows/s", "worker peak MiB", "passes s", "verdict"],
        [
            (
                f"{rows:,}",
                run["seconds"],
                run["rows_per_s"],
                max(run["worker_peak_mib"].values(), default=float("nan")),
                " + ".join(f"{v:.0f}" for v in run["passes_s"].values()),
                run["verdict"],
            )
            for rows, run in runs.items()
        ],
    )
    lines += [
        "",
        f"- slope: {data['slope_s_per_million_rows']:.1f} s per million current rows on top "
        f"of {intercept:.1f} s; reference {reference_rows:,} rows, {per_partition:,} rows a "
        "partition, 2 workers of 1 thread and 2 GiB",
        f"- in memory on {sizes[0]:,} rows: {local['seconds']:.1f} s, verdict "
        f"{local['verdict']}; the {len(decided)} gates both engines decide: "
        + ("same verdicts" if not differ else f"differ on {', '.join(differ)}"),
    ]
    return Section("dask", "Gates over partitions: Dask LocalCluster vs in memory", data, lines)
