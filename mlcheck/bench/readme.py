"""The README's benchmark tables, regenerated from a bench run rather than typed by hand.

`benchmarks/bench.json` keeps the newest measurement of each section with the machine and date
it ran on (a `--only gate` run replaces the gate section and keeps the others). Each table in
the README sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` and is rewritten from
that record, with its date; a test holds the README to the record.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["RECORD", "block_text", "readme_blocks", "record_run", "update_readme"]

#: The committed record, relative to the README's folder.
RECORD = Path("benchmarks") / "bench.json"

_BLOCK = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", re.S)


def record_run(run: dict[str, Any], record: Path) -> dict[str, Any]:
    """Merge a run's bench.json into `record`: each section it measured replaces the older one,
    with the run's machine beside it. Returns the merged record (also written)."""
    merged: dict[str, Any] = json.loads(record.read_text()) if record.exists() else {}
    for name, data in run["sections"].items():
        if "error" not in data:  # a failed section keeps its last good numbers
            merged[name] = {"machine": run["machine"], **data}
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")
    return merged


def block_text(section: dict[str, Any]) -> str:
    """One README block: the date and machine line, then the section's own Markdown."""
    m = section["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(m["versions"].items()) if v != "missing")
    head = (
        f"Measured {section.get('date', m['date'])} by `mlcheck bench`, {m['cores']} cores, "
        f"Python {m['python']}; {versions}."
    )
    load = section.get("load_average")
    if load is not None and load > m["cores"]:
        head += (
            f" The machine was busy (load average {load:g} on {m['cores']} cores): the seconds "
            "are slower than on a quiet machine; the ratios measured side by side hold better."
        )
    return head + "\n\n" + "\n".join(section["markdown"]) + "\n"


def readme_blocks(text: str) -> dict[str, str]:
    """The README's benchmark blocks by section name."""
    return {match.group(1): match.group(2) for match in _BLOCK.finditer(text)}


def update_readme(readme: Path, record: dict[str, Any]) -> list[str]:
    """Rewrite each block of `readme` whose section is in `record`; returns their names."""
    done: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in record:
            return match.group(0)
        done.append(name)
        return f"<!-- bench:{name} -->\n{block_text(record[name])}<!-- /bench:{name} -->"

    readme.write_text(_BLOCK.sub(replace, readme.read_text()))
    return done
