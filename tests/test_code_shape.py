"""The shape of the code a newcomer reads: no function of the package is 80 lines or longer,
and no suite names an engine (the steps choose it; the suites only record)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LONGEST = 80


def _functions(path: Path, root: Path = ROOT) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (f"{path.relative_to(root)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno
    ]


def test_no_function_of_the_package_is_80_lines_or_longer():
    long = [
        f"{name} ({lines} lines)"
        for path in sorted((ROOT / "mlcheck").rglob("*.py"))
        for name, lines in _functions(path)
        if lines >= LONGEST
    ]
    assert not long, "split these into functions that say what they do:\n" + "\n".join(long)


def test_the_length_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"        x{i} = {i}" for i in range(LONGEST))
    (tmp_path / "m.py").write_text(f"class C:\n    def long(self):\n{body}\n")
    assert _functions(tmp_path / "m.py", tmp_path) == [("m.py:2 long", LONGEST + 1)]


def test_no_suite_names_an_engine():
    named = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "suites").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "engine" in line.lower() or "dask" in line.lower()
    ]
    assert not named, f"the steps choose the engine, the suites only record: {named}"
