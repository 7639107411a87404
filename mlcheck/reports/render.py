"""Renderers of a suite result: terminal table, Markdown, HTML table. They compute nothing.

`write_text_atomic` is how a rendered report lands on disk: whole or not at all.
"""

from __future__ import annotations

import contextlib
import html
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from mlcheck.results import GateResult, Outcome, SuiteResult, format_number

__all__ = [
    "HEADER",
    "gate_rows",
    "partial_run",
    "to_html_table",
    "to_markdown",
    "to_text",
    "verdict_line",
    "write_text_atomic",
]

HEADER = ("gate", "metric", "value", "95% interval", "threshold", "result")


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` so that a reader sees the old file or the new one whole.

    The text goes to a new temporary file in the same folder (mode 0666 less the umask, as
    `Path.write_text` would give), is flushed to disk, then `os.replace`s `path`. On any error
    the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def gate_rows(suite: SuiteResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for gate in suite.gates:
        interval = (
            f"[{format_number(gate.interval[0])}, {format_number(gate.interval[1])}]"
            if gate.interval
            else ""
        )
        threshold = (
            f"{gate.comparison.value} {format_number(gate.threshold)}"
            if gate.comparison is not None and gate.threshold is not None
            else ""
        )
        value = format_number(gate.value) if gate.value is not None else ""
        rows.append((gate.name, gate.metric, value, interval, threshold, gate.outcome.value))
    return rows


def _problems(suite: SuiteResult) -> list[GateResult]:
    return [g for g in suite.gates if g.outcome in (Outcome.FAIL, Outcome.ERROR, Outcome.WARN)]


def verdict_line(suite: SuiteResult, report_dir: str = "reports") -> str:
    counts = (
        f"{suite.count(Outcome.PASS)} passed, {suite.count(Outcome.FAIL)} failed, "
        f"{suite.count(Outcome.ERROR)} error, {suite.count(Outcome.WARN)} warning, "
        f"{suite.count(Outcome.SKIP)} skipped"
    )
    if not suite.gates:
        counts = "no gate ran (nothing was checked)"
    return f"{suite.verdict.value} · {counts} · {report_dir}/gate.json · exit {suite.exit_code}"


def _title(suite: SuiteResult) -> str:
    ctx = suite.context
    flavor = f" ({ctx['flavor']})" if ctx.get("flavor") else ""
    parts = [f"model {ctx.get('model', '?')}{flavor}"]
    for key in ("reference", "current", "engine", "policy", "inputs"):
        if ctx.get(key):
            parts.append(f"{key} {ctx[key]}")
    return "mlcheck gate · " + " · ".join(parts)


def partial_run(suite: SuiteResult) -> str:
    """What a narrowed run left out ("partial run: ..."), or "" for a full run."""
    selection = suite.context.get("selection")
    if not isinstance(selection, dict) or selection.get("full", True):
        return ""
    return str(selection.get("summary") or "partial run")


def to_text(suite: SuiteResult, report_dir: str = "reports") -> str:
    rows = [HEADER, *gate_rows(suite)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [_title(suite)]
    if partial_run(suite):
        lines.append(f" {partial_run(suite)}")
    lines += [
        " " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    problems = _problems(suite)
    if problems:
        lines.append("")
        lines += [f" {gate.message}" for gate in problems]
    lines.append(verdict_line(suite, report_dir))
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(suite: SuiteResult, report_dir: str = "reports") -> str:
    icons = {
        "PASS": "✅ PASS",
        "FAIL": "❌ FAIL",
        "ERROR": "⛔ ERROR",
        "WARN": "⚠️ WARN",
        "SKIP": "⏭ SKIP",
    }
    partial = [f"> ⚠️ {_md_cell(partial_run(suite))}", ""] if partial_run(suite) else []
    lines = [
        f"### {_title(suite)}",
        "",
        *partial,
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    for row in gate_rows(suite):
        cells = [*row[:-1], icons[row[-1]]]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    problems = _problems(suite)
    if problems:
        lines += ["", "**Why:**", ""]
        lines += [f"- `{_md_cell(g.message)}`" for g in problems]
    lines += ["", f"**{verdict_line(suite, report_dir)}**", ""]
    return "\n".join(lines)


def to_html_table(suite: SuiteResult, header: Sequence[str] = HEADER) -> str:
    colours = {
        "PASS": "#1a7f37",
        "FAIL": "#cf222e",
        "ERROR": "#8250df",
        "WARN": "#9a6700",
        "SKIP": "#57606a",
    }
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for gate, row in zip(suite.gates, gate_rows(suite), strict=True):
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row[:-1])
        outcome = row[-1]
        cells += f'<td style="color:{colours[outcome]};font-weight:bold">{outcome}</td>'
        title = html.escape(gate.message, quote=True)
        body.append(f'<tr class="mlcheck-gate" title="{title}">{cells}</tr>')
    verdict = html.escape(verdict_line(suite))
    partial = partial_run(suite)
    selection = f'<p id="mlcheck-selection">{html.escape(partial)}</p>' if partial else ""
    return (
        '<h2 id="mlcheck-gates">Gates</h2>'
        f"{selection}"
        '<table id="mlcheck-gate-table" class="mlcheck"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f'<p id="mlcheck-verdict"><strong>{verdict}</strong></p>'
    )
