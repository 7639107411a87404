"""Run the benchmark sections one after another and write the report."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from mlcheck.bench.machine import machine
from mlcheck.bench.report import Section, write_report

__all__ = ["SECTIONS", "run_bench"]

SECTIONS = ("serving", "drift", "bootstrap", "gate", "dask")


def _quick(name: str) -> Callable[[], Section]:
    """Small sizes for a smoke run (`--quick`): every section's runs, numbers not to be quoted
    (one size of the gate and of the Dask sections: no slope)."""
    if name == "serving":
        from mlcheck.bench.serving import serving_section

        return lambda: serving_section(seconds=2, connections=4)
    if name == "drift":
        from mlcheck.bench.drift import drift_section

        return lambda: drift_section((5_000, 20_000), resamples=2, evidently_resamples=1)
    if name == "bootstrap":
        from mlcheck.bench.bootstrap import bootstrap_section

        return lambda: bootstrap_section(5_000, 100, 3, large_rows=50_000)
    if name == "dask":
        from mlcheck.bench.dask import dask_section

        return lambda: dask_section((100_000,), 100_000, 50_000)
    from mlcheck.bench.gate import gate_section

    return lambda: gate_section((2_000,), reference_rows=5_000)


def _full(name: str) -> Callable[[], Section]:
    if name == "serving":
        from mlcheck.bench.serving import serving_section

        return serving_section
    if name == "drift":
        from mlcheck.bench.drift import drift_section

        return drift_section
    if name == "bootstrap":
        from mlcheck.bench.bootstrap import bootstrap_section

        return bootstrap_section
    if name == "dask":
        from mlcheck.bench.dask import dask_section

        return dask_section
    from mlcheck.bench.gate import gate_section

    return gate_section


def run_bench(sections: Sequence[str], report_dir: Path, quick: bool = False) -> tuple[Path, int]:
    """Run `sections`, write bench.json and bench.md; returns the Markdown path and how many
    sections failed (a failed section is in the report with its error, never left out)."""
    done: list[Section] = []
    failed = 0
    for name in sections:
        started, date = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"mlcheck bench: {name} ...", flush=True)
        try:
            section = (_quick if quick else _full)(name)()
        except Exception as exc:  # one broken tool must not hide the other sections' numbers
            traceback.print_exc()
            failed += 1
            section = Section(name, f"{name}: FAILED", {"error": f"{type(exc).__name__}: {exc}"})
            section.lines = [f"Not measured: {type(exc).__name__}: {exc}"]
        section.data["section_s"] = time.perf_counter() - started
        section.data["date"] = date
        # how busy the machine was over the section: above the core count, read the ratios
        section.data["load_average"] = round(os.getloadavg()[1], 1)
        section.data["markdown"] = section.lines
        done.append(section)
        print("\n".join(["", f"## {section.title}", "", *section.lines, ""]), flush=True)
    return write_report(machine(), done, report_dir), failed
