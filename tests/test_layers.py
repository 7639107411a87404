"""The layers go one way (pyproject's [tool.importlinter] contracts, checked with import-linter)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_imports_go_down_the_layers_only():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "5 kept, 0 broken" in done.stdout


def test_the_contract_catches_an_import_that_goes_up(tmp_path):
    """A copy of the package where a statistic imports a gate must break the layers."""
    import shutil

    copy = tmp_path / "mlcheck"
    shutil.copytree(ROOT / "mlcheck", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "stats" / "timing.py").write_text(
        "from mlcheck.gates.latency import timing_gate  # an import that goes up\n",
        encoding="utf-8",
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stdout[-4000:]
    assert "mlcheck.stats.timing -> mlcheck.gates.latency" in done.stdout


# --------------------------------------------------------------------------- what import-linter
# does not see: modules loaded by name, the suites and benchmarks outside the package, file I/O
# inside gates and statistics, and the README's table of the layers.

#: Calls that read or write files, by the name called (a method or a function).
FILE_IO_CALLS = frozenset(
    {
        "open", "read_text", "write_text", "read_bytes", "write_bytes", "unlink", "mkdir",
        "touch", "rmdir", "rmtree", "makedirs", "copyfile", "to_csv", "to_parquet", "to_pickle",
        "to_feather", "read_csv", "read_parquet", "read_json", "read_pickle", "read_table",
        "loadtxt", "savetxt", "savez", "savez_compressed", "system", "popen",
    }
)  # fmt: skip
#: Module-qualified calls that read or write files (`np.load`, not a `.load` method).
FILE_IO_QUALIFIED = frozenset({("np", "load"), ("np", "save"), ("numpy", "load"),
                               ("numpy", "save"), ("pickle", "load"), ("pickle", "dump"),
                               ("os", "remove"), ("os", "rename"), ("os", "replace"),
                               ("json", "load"), ("json", "dump")})  # fmt: skip
PURE_PACKAGES = ("gates", "stats")
#: Modules outside the package and the layers of mlcheck they must not import.
OUTSIDE = {
    # the suites record what the steps return; an engine reaches them only through the run
    "suites": ("mlcheck.cli", "mlcheck.commands", "mlcheck.bench", "mlcheck.engine"),
    "benchmarks": ("mlcheck.cli", "mlcheck.commands"),
}


def _contract_layers() -> list[str]:
    """The layers contract of pyproject.toml as written, top first."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers: list[str] = next(c["layers"] for c in contracts if c["type"] == "layers")
    return layers


def _layers() -> list[tuple[str, ...]]:
    """Each layer's module names, top first."""
    return [tuple(m.strip() for m in re.split(r"[|:]", layer)) for layer in _contract_layers()]


def _layer_of(module: str, layers: list[tuple[str, ...]]) -> tuple[int, str] | None:
    for index, names in enumerate(layers):
        for name in names:
            if module == name or module.startswith(name + "."):
                return index, name
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_by_name(tree: ast.AST) -> list[tuple[int, str | None]]:
    """`importlib.import_module(...)` and `__import__(...)` calls: (line, the literal module
    name, or None when the name is computed)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in ("import_module", "__import__"):
            continue
        arg = node.args[0] if node.args else None
        literal = (
            arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
        )
        found.append((node.lineno, literal))
    return found


def _static_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def file_io_calls(source: str) -> list[str]:
    """The calls in `source` that read or write files ("line: name")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FILE_IO_CALLS:
            found.append(f"{node.lineno}: {func.id}")
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if func.attr in FILE_IO_CALLS or (owner, func.attr) in FILE_IO_QUALIFIED:
                found.append(f"{node.lineno}: {owner or '…'}.{func.attr}")
    return found


def layer_breaks(
    path: Path, source: str, layers: list[tuple[str, ...]], independent: list[bool] | None = None
) -> list[str]:
    """Modules `path` loads by name that sit above it (or in a sibling it must not use), and
    computed names loaded inside the pure packages. `independent[i]`: the siblings of layer i
    must not meet (import-linter's `a | b`; `a : b` may import each other); by default, as the
    contract writes them."""
    if independent is None:
        independent = ["|" in layer for layer in _contract_layers()]
    caller = _module_name(path)
    mine = _layer_of(caller, layers)
    breaks = []
    for line, target in _imports_by_name(ast.parse(source)):
        if target is None:
            if caller.split(".")[1:2] and caller.split(".")[1] in PURE_PACKAGES:
                breaks.append(f"{caller}:{line} loads a module by a computed name")
            continue
        theirs = _layer_of(target, layers)
        if mine is None or theirs is None or mine[1] == theirs[1]:
            continue
        if theirs[0] < mine[0] or (theirs[0] == mine[0] and independent[mine[0]]):
            breaks.append(f"{caller}:{line} loads {target} by name (a layer up or a sibling)")
    return breaks


def test_modules_loaded_by_name_go_down_the_layers_too():
    layers = _layers()
    breaks = [
        problem
        for path in sorted((ROOT / "mlcheck").rglob("*.py"))
        for problem in layer_breaks(path, path.read_text(encoding="utf-8"), layers)
    ]
    assert not breaks, breaks


def test_a_module_loaded_by_name_from_above_is_caught():
    source = 'import importlib\nstep = importlib.import_module("mlcheck.run.steps")\n'
    breaks = layer_breaks(ROOT / "mlcheck" / "stats" / "timing.py", source, _layers())
    assert breaks and "loads mlcheck.run.steps by name" in breaks[0]
    sibling = 'import importlib\nhttp = importlib.import_module("mlcheck.probes.http")\n'
    app = ROOT / "mlcheck" / "serving" / "app.py"
    assert not layer_breaks(app, sibling, _layers())  # `probes : serving`: they may meet
    apart = ["mlcheck.serving" in layer for layer in _contract_layers()]  # as if `|`
    assert layer_breaks(app, sibling, _layers(), apart)
    down = 'import importlib\nerrors = importlib.import_module("mlcheck.errors")\n'
    assert not layer_breaks(ROOT / "mlcheck" / "serving" / "app.py", down, _layers())
    computed = "import importlib\nmodule = importlib.import_module(name)\n"
    assert layer_breaks(ROOT / "mlcheck" / "gates" / "drift.py", computed, _layers())


def test_gates_and_statistics_read_and_write_no_files():
    found = {
        str(path.relative_to(ROOT)): calls
        for package in PURE_PACKAGES
        for path in sorted((ROOT / "mlcheck" / package).rglob("*.py"))
        if (calls := file_io_calls(path.read_text(encoding="utf-8")))
    }
    assert not found, found


def test_the_file_check_sees_reads_and_writes():
    source = (
        "import numpy as np\nfrom pathlib import Path\n"
        "text = Path('a').read_text()\nnp.save('b', [1])\nframe.to_parquet('c')\n"
        "with open('d') as f:\n    pass\nitems.remove(1)\nframe.rename(columns={})\n"
    )
    assert [c.split(": ")[1] for c in file_io_calls(source)] == [
        "….read_text",
        "np.save",
        "frame.to_parquet",
        "open",
    ]


def test_suites_and_benchmarks_import_only_what_sits_below_them():
    breaks = []
    for folder, forbidden in OUTSIDE.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            loaded = _static_imports(tree) + [
                (line, name) for line, name in _imports_by_name(tree) if name
            ]
            breaks += [
                f"{path.relative_to(ROOT)}:{line} imports {name}"
                for line, name in loaded
                if any(name == f or name.startswith(f + ".") for f in forbidden)
            ]
    assert not breaks, breaks


def test_the_readme_table_of_layers_is_the_contract():
    """Each row of the README's layer table names the modules of one layer of the contract,
    top to bottom (a module as `cli.py` or a package as `stats/`)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| layer | modules |") :].split("\n\n", 1)[0].strip().splitlines()[2:]
    rows = []
    for row in table:
        modules = row.split("|")[2]
        # the row's own modules: `name.py` or `name/` (not the parts listed in parentheses)
        outside = re.sub(r"\([^)]*\)", "", modules)
        names = re.findall(r"`([a-z_]+)(?:\.py|/)`", outside)
        rows.append({f"mlcheck.{n}" for n in names if n != "suites"})
    assert rows == [set(layer) for layer in _layers()]
