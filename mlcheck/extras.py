"""Optional parts of mlcheck behind pip extras, and the one-line message when one is missing.

The core install (`pip install mlcheck`) runs the quality, schema and drift gates, the serving
core and the latency gate. The rest is behind extras (pyproject.toml): `load` (locust),
`stack` (testcontainers), `dask`, `evidently` (drift.html), `xgboost` (XGBoost models, the
demo among them), `lightgbm`; `all` is every one. Where a run needs one, it calls
`require(extra, module, what)`, which imports the module or raises `MissingExtra` (a
`ConfigError`: exit 2) with one line that names the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from mlcheck.errors import ConfigError

__all__ = [
    "EXTRAS",
    "MissingExtra",
    "available",
    "missing",
    "named_explicitly",
    "require",
    "run_needs",
]

#: Each extra and the modules it brings (the first one is what `require` is asked for).
EXTRAS: dict[str, tuple[str, ...]] = {
    "load": ("locust",),
    "stack": ("testcontainers",),
    "dask": ("dask", "distributed"),
    "evidently": ("evidently",),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
}

#: The model URI that names the bundled demo (mlcheck.models.demo.DEMO, which sits above here).
_DEMO = "demo"


class MissingExtra(ConfigError):
    """A part of mlcheck that needs an extra which is not installed."""

    def __init__(self, extra: str, module: str, what: str) -> None:
        self.extra, self.module, self.what = extra, module, what
        super().__init__(
            f"{what} needs {module}, which is not installed: pip install 'mlcheck[{extra}]'"
        )


def available(module: str) -> bool:
    """Whether `module` can be imported, without importing it (or its parent package)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(extra: str, what: str) -> MissingExtra | None:
    """The error to raise (or the reason to skip) when a module of `extra` is missing."""
    if extra not in EXTRAS:
        raise ValueError(f"extra={extra!r}; expected one of {', '.join(EXTRAS)}")
    for module in EXTRAS[extra]:
        if not available(module):
            return MissingExtra(extra, module, what)
    return None


def require(extra: str, module: str, what: str) -> ModuleType:
    """Import `module` of `extra`, or raise `MissingExtra` naming `pip install 'mlcheck[extra]'`.

    `what` names what needs it, as the user would say it (`--model demo`, `the load gate`).
    """
    if extra not in EXTRAS or module.split(".")[0] not in EXTRAS[extra]:
        raise ValueError(f"module={module!r} is not part of extra={extra!r}")
    error = missing(extra, what)
    if error is not None:
        raise error
    return importlib.import_module(module)


def run_needs(
    model: str | None, champion: str | None, engine: str | None, stack: str | None
) -> MissingExtra | None:
    """Before a gate run starts: the first extra its options need that is missing, if any.

    The demo model is an XGBoost model; `--engine dask` needs Dask; `--stack containers`
    needs testcontainers (`auto` falls back to local processes without it).
    """
    checks = []
    if (model or _DEMO) == _DEMO:
        checks.append(("xgboost", f"--model {_DEMO} (an XGBoost model)"))
    if champion == _DEMO:
        checks.append(("xgboost", f"--champion {_DEMO} (an XGBoost model)"))
    if engine == "dask":
        checks.append(("dask", "--engine dask"))
    if stack == "containers":
        checks.append(("stack", "--stack containers"))
    for extra, what in checks:
        error = missing(extra, what)
        if error is not None:
            return error
    return None


def named_explicitly(args: Sequence[str], invocation_dir: Path, path: Path) -> bool:
    """Whether the pytest arguments `args` name the test file `path` itself (or a test in it),
    rather than a folder that holds it: a suite asked for by name whose extra is missing is
    an error; one that only came with the defaults is skipped."""
    wanted = path.resolve()
    for arg in args:
        if arg.startswith("-"):
            continue
        target = Path(arg.split("::")[0])
        if not target.is_absolute():
            target = invocation_dir / target
        try:
            if target.resolve() == wanted:
                return True
        except OSError:
            continue
    return False
