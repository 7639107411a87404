"""Where the stack's files live: the `stack/` folder mlcheck carries (config, rules, recipes)."""

from __future__ import annotations

import os
from pathlib import Path

from mlcheck.errors import ConfigError
from mlcheck.resources import resource

__all__ = ["STACK_DIR_ENV", "stack_dir", "stack_file"]

#: Points at another copy of the `stack/` folder (for an installed mlcheck outside the repo).
STACK_DIR_ENV = "MLCHECK_STACK_DIR"


def stack_dir() -> Path:
    """The `stack/` folder: `$MLCHECK_STACK_DIR`, else the one mlcheck carries."""
    given = os.environ.get(STACK_DIR_ENV)
    folder = Path(given) if given else resource("stack")
    if not (folder / "alerts.yml").is_file():
        raise ConfigError(
            f"{STACK_DIR_ENV}={str(folder)!r} is not the mlcheck stack folder (no alerts.yml); "
            f"unset {STACK_DIR_ENV} to use the stack files mlcheck carries, or point it at a "
            "copy of them"
        )
    return folder


def stack_file(*parts: str) -> Path:
    path = stack_dir().joinpath(*parts)
    if not path.exists():
        raise ConfigError(f"{path} is missing from the stack folder; restore it from git")
    return path
