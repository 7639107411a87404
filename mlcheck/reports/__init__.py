"""Writing a suite result to `reports/`: gate.json (versioned), summary.md and index.html."""

from __future__ import annotations

from pathlib import Path

from mlcheck.reports.index import write_index
from mlcheck.reports.render import (
    to_html_table,
    to_markdown,
    to_text,
    verdict_line,
    write_text_atomic,
)
from mlcheck.results import SuiteResult

__all__ = [
    "STALE_REPORTS",
    "to_html_table",
    "to_markdown",
    "to_text",
    "verdict_line",
    "write_index",
    "write_reports",
    "write_text_atomic",
]


#: Reports of an earlier run that a run may not write again: removed when a run starts, so that
#: none of them is taken for this run's.
STALE_REPORTS = ("gate.json", "summary.md", "drift.html", "load.html")


def write_reports(suite: SuiteResult, report_dir: str | Path, index: bool = True) -> list[Path]:
    """Write gate.json, summary.md and (unless `index` is False) index.html into `report_dir`.

    The pytest plugin writes index.html last, once pytest-html has written report.html.
    Both texts are rendered before either file is touched, and each file is replaced
    atomically (`write_text_atomic`): a failure while rendering or writing leaves the previous
    gate.json and summary.md as they were, never a truncated file.
    """
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    gate_text = suite.to_json() + "\n"
    summary_text = to_markdown(suite, str(directory))
    gate_json = write_text_atomic(directory / "gate.json", gate_text)
    summary = write_text_atomic(directory / "summary.md", summary_text)
    written = [gate_json, summary]
    if index:
        written.append(write_index(suite, directory))
    return written
