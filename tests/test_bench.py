"""`mlcheck bench` runs every section on small sizes and writes bench.json and bench.md with
the side-by-side numbers (the real run is `tox -e bench`; its numbers are in the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlcheck.bench.machine import machine
from mlcheck.bench.readme import RECORD, block_text, readme_blocks, record_run, update_readme
from mlcheck.bench.report import Section, markdown_table, write_report
from mlcheck.bench.run import SECTIONS


def test_the_report_has_the_machine_and_each_sections_table(tmp_path):
    section = Section("x", "A section", {"ratio": 2.5}, markdown_table(["a", "b"], [(1, 0.5)]))
    path = write_report(machine(), [section], tmp_path)
    text = path.read_text()
    assert "cores" in text and "## A section" in text and "| 1 | 0.5 |" in text
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["sections"]["x"]["ratio"] == 2.5 and data["machine"]["cores"] >= 1
    assert data["machine"]["versions"]["numpy"] != "missing"


def test_an_unknown_section_is_a_usage_error():
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "bench", "--only", "nope"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "invalid choice: 'nope'" in run.stderr


def _check_serving(serving: dict) -> None:
    assert serving["results"]["mlcheck"]["rps"] > 0 and serving["rps_ratio_vs_mlflow"] > 0
    assert all(r["errors"] == 0 for r in serving["results"].values())
    assert serving["results"]["mlcheck --capture"]["rps"] > 0
    assert serving["batch_share_of_in_process"] > 0


def _check_drift(drift: dict) -> None:
    assert all(not t["disagreements_with_evidently"] for t in drift["timed"])
    assert drift["false_alarms"]["mlcheck_dataset_drift_rate"] == 0.0  # a 0.02 sd shift
    if drift["alibi_detect"] != "not measured":
        assert all("alibi_s" in t for t in drift["timed"])


def _check_bootstrap(boot: dict) -> None:
    # measured ~50x on a quiet machine: another test beside it cannot bring it down to 1
    assert boot["speedup_vs_sklearn"] > 1 and boot["large_sample_speedup"] > 1


def _check_gate(gate: dict) -> None:
    assert [run["exit_code"] for run in gate["runs"].values()] == [
        {"PASS": 0, "FAIL": 1}[run["verdict"]] for run in gate["runs"].values()
    ]
    assert all(run["inputs_s"]["scores"] >= 0 for run in gate["runs"].values())


def _check_dask(dask: dict) -> None:
    assert dask["same_verdicts"] and dask["gates_compared"] > 5
    assert all(max(run["worker_peak_mib"].values()) < 2048 for run in dask["runs"].values())


#: Each section's checks and its title in bench.md. The sections run as separate tests, so two
#: test workers share them out; together they are every section of `mlcheck bench`.
QUICK_SECTIONS = {
    "serving": (_check_serving, "Serving"),
    "drift": (_check_drift, "Drift"),
    "bootstrap": (_check_bootstrap, "Quality intervals"),
    "gate": (_check_gate, "Whole gate"),
    "dask": (_check_dask, "Gates over partitions"),
}


#: The quick runs, one test each: a section of a minute or more on its own.
GROUPS = [("serving",), ("drift", "bootstrap"), ("gate",), ("dask",)]


def test_the_quick_runs_cover_every_section():
    assert tuple(QUICK_SECTIONS) == SECTIONS
    assert sorted(name for group in GROUPS for name in group) == sorted(SECTIONS)


@pytest.mark.slow
@pytest.mark.parametrize("groups", GROUPS, ids="+".join)
def test_a_quick_bench_measures_its_sections(tmp_path, groups):
    run = subprocess.run(
        [sys.executable, "-m", "mlcheck", "bench", "--quick", "--report-dir", str(tmp_path),
         "--only", *groups],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    sections = json.loads((tmp_path / "bench.json").read_text())["sections"]
    assert set(sections) == set(groups)
    markdown = (tmp_path / "bench.md").read_text()
    for name in groups:
        check, title = QUICK_SECTIONS[name]
        check(sections[name])
        assert f"## {title}" in markdown


def _run_json(date: str, sections: dict) -> dict:
    return {"machine": {**machine(), "date": date}, "sections": sections}


def test_a_bench_run_rewrites_the_readme_tables_of_the_sections_it_measured(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n<!-- bench:gate -->\nold\n<!-- /bench:gate -->\n"
        "<!-- bench:drift -->\nold drift\n<!-- /bench:drift -->\ntail\n"
    )
    record = tmp_path / RECORD
    first = _run_json("2026-12-01 10:00 UTC", {"gate": {"markdown": ["| a |", "| --- |"]}})
    merged = record_run(first, record)
    assert update_readme(readme, merged) == ["gate"]
    blocks = readme_blocks(readme.read_text())
    assert blocks["drift"] == "old drift\n"  # not measured: left as it was
    assert blocks["gate"].startswith("Measured 2026-12-01 10:00 UTC") and "| a |" in blocks["gate"]
    # a later run of one section replaces it and keeps the others, each with its own date
    drift = {"drift": {"markdown": ["| d |"]}, "dask": {"error": "boom", "markdown": []}}
    merged = record_run(_run_json("2026-12-07 09:00 UTC", drift), record)
    assert set(merged) == {"gate", "drift"}  # a failed section is not recorded
    assert update_readme(readme, merged) == ["gate", "drift"]
    blocks = readme_blocks(readme.read_text())
    assert "2026-12-01" in blocks["gate"] and "2026-12-07" in blocks["drift"]
    assert readme.read_text().endswith("tail\n")


def test_the_readme_tables_are_the_recorded_bench_numbers():
    """The README's benchmark tables are rewritten by `mlcheck bench --readme README.md`
    from benchmarks/bench.json; an edit by hand, or a record without its table, fails here."""
    root = Path(__file__).resolve().parents[1]
    record = json.loads((root / RECORD).read_text())
    blocks = readme_blocks((root / "README.md").read_text())
    assert set(blocks) == set(record) == {"serving", "drift", "bootstrap", "gate", "dask"}
    for name, text in blocks.items():
        assert text == block_text(record[name]), f"README's {name} table is not the record's"
