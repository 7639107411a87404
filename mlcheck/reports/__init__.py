"""Writing a suite result to `reports/`: gate.json (versioned) and summary.md."""

from __future__ import annotations

from pathlib import Path

from mlcheck.reports.render import to_html_table, to_markdown, to_text, verdict_line
from mlcheck.results import SuiteResult

__all__ = ["to_html_table", "to_markdown", "to_text", "verdict_line", "write_reports"]


def write_reports(suite: SuiteResult, report_dir: str | Path) -> list[Path]:
    """Write gate.json and summary.md into `report_dir`; returns the paths written."""
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    gate_json = directory / "gate.json"
    gate_json.write_text(suite.to_json() + "\n", encoding="utf-8")
    summary = directory / "summary.md"
    summary.write_text(to_markdown(suite, str(directory)), encoding="utf-8")
    return [gate_json, summary]
