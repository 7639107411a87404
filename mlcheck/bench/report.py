"""A benchmark section's numbers and Markdown, and the report files they end up in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Section", "markdown_table", "write_report"]


@dataclass
class Section:
    """One benchmark's results: `data` for bench.json, `lines` of Markdown for bench.md."""

    name: str
    title: str
    data: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def write_report(machine: dict[str, Any], sections: list[Section], report_dir: Path) -> Path:
    """Write bench.json and bench.md to `report_dir`; returns the Markdown file's path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine, "sections": {s.name: s.data for s in sections}}
    (report_dir / "bench.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        f"# mlcheck bench · {machine['date']}",
        "",
        f"{machine['cores']} cores ({machine['cores_usable']} usable), Python "
        f"{machine['python']}; {versions}.",
    ]
    for section in sections:
        lines += ["", f"## {section.title}", "", *section.lines]
    path = report_dir / "bench.md"
    path.write_text("\n".join(lines) + "\n")
    return path
