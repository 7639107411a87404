"""`reports/index.html`: the verdict, the gate table, the plots and links to every report."""

from __future__ import annotations

import html
from pathlib import Path

from mlcheck.reports.plots import suite_plots
from mlcheck.reports.render import to_html_table, verdict_line, write_text_atomic
from mlcheck.results import Outcome, SuiteResult

__all__ = ["LINKED_REPORTS", "write_index"]

#: Reports the index links to when they exist, with what each holds.
LINKED_REPORTS = (
    ("report.html", "pytest-html: every test, its log and the gate table"),
    ("drift.html", "Evidently: data drift per column (a sample of the rows)"),
    ("load.html", "locust: requests, response times and failures of the load run"),
    ("summary.md", "the gate table as Markdown (the CI job summary)"),
    ("gate.json", "every gate result, machine-readable (format version 1)"),
    ("junit.xml", "JUnit XML of the test run"),
    ("schema.yaml", "the schema inferred from the reference data, to copy and edit"),
    ("load_stats.csv", "locust's statistics as CSV"),
)

_BANNER = {
    Outcome.PASS: ("#1a7f37", "PASS: the model may ship"),
    Outcome.FAIL: ("#cf222e", "BLOCKED: a gate failed"),
    Outcome.ERROR: ("#8250df", "COULD NOT DECIDE: fix the errors and run again"),
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; }
table.mlcheck { border-collapse: collapse; margin: 1rem 0; }
table.mlcheck th, table.mlcheck td {
  border: 1px solid #d0d7de; padding: 4px 10px; text-align: left;
}
table.mlcheck th { background: #f6f8fa; }
.banner { color: white; padding: 0.8rem 1rem; border-radius: 6px; font-size: 1.3rem; }
.why li { font-family: monospace; }
figure { margin: 1rem 0; }
"""


def write_index(suite: SuiteResult, report_dir: str | Path) -> Path:
    """Write index.html into `report_dir` (links only to reports that exist there)."""
    directory = Path(report_dir)
    colour, title = _BANNER.get(suite.verdict, _BANNER[Outcome.ERROR])
    hidden = ("run_id", "timings")
    context = " · ".join(f"{k} {v}" for k, v in suite.context.items() if k not in hidden and v)
    problems = [g for g in suite.gates if g.outcome in (Outcome.FAIL, Outcome.ERROR, Outcome.WARN)]
    why = "".join(f"<li>{html.escape(g.message)}</li>" for g in problems)
    links = "".join(
        f'<li><a href="{name}">{name}</a>: {html.escape(about)}</li>'
        for name, about in LINKED_REPORTS
        if (directory / name).exists()
    )
    plots = "".join(
        f"<figure><figcaption><strong>{html.escape(caption)}</strong></figcaption>{svg}</figure>"
        for caption, svg in suite_plots(suite).items()
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mlcheck gate: {suite.verdict.value}</title>
<style>{_STYLE}</style></head><body>
<h1>mlcheck gate</h1>
<p>{html.escape(context)}</p>
<div class="banner" id="mlcheck-banner" style="background:{colour}">{html.escape(title)}</div>
{"<h2>Why</h2><ul class='why'>" + why + "</ul>" if why else ""}
{to_html_table(suite)}
<h2>Reports</h2><ul>{links}</ul>
{"<h2>Plots</h2>" + plots if plots else ""}
<p><small>{html.escape(verdict_line(suite, str(directory)))}</small></p>
</body></html>
"""
    return write_text_atomic(directory / "index.html", page)
