"""Where the stack's files live: `stack/` at the repository root (config, rules, recipes)."""

from __future__ import annotations

import os
from pathlib import Path

from mlcheck.errors import ConfigError

__all__ = ["STACK_DIR_ENV", "stack_dir", "stack_file"]

#: Points at another copy of the `stack/` folder (for an installed mlcheck outside the repo).
STACK_DIR_ENV = "MLCHECK_STACK_DIR"


def stack_dir() -> Path:
    """The `stack/` folder: `$MLCHECK_STACK_DIR`, else the one beside this package's source."""
    given = os.environ.get(STACK_DIR_ENV)
    folder = Path(given) if given else Path(__file__).resolve().parents[2] / "stack"
    if not (folder / "alerts.yml").is_file():
        raise ConfigError(
            f"{STACK_DIR_ENV}={str(folder)!r} is not the mlcheck stack folder (no alerts.yml); "
            f"run from an mlcheck checkout or set {STACK_DIR_ENV} to its stack/ folder"
        )
    return folder


def stack_file(*parts: str) -> Path:
    path = stack_dir().joinpath(*parts)
    if not path.exists():
        raise ConfigError(f"{path} is missing from the stack folder; restore it from git")
    return path
