"""Files a gate run needs besides the code: the gate suites, the stack files, the demo policy.

In a checkout they are the repository's `suites/`, `stack/` and `checks/`; an installed wheel
carries copies of them in `mlcheck/_bundle/` (see `setup.py`). Either way they are found
through the package, never through the working directory.
"""

from __future__ import annotations

from pathlib import Path

from mlcheck.errors import ConfigError

__all__ = ["BUNDLE", "resource"]

PACKAGE = Path(__file__).resolve().parent
BUNDLE = PACKAGE / "_bundle"


def resource(*parts: str) -> Path:
    """The bundled file or folder `parts` (e.g. `resource("suites")`), wheel or checkout."""
    for base in (BUNDLE, PACKAGE.parent):
        path = base.joinpath(*parts)
        if path.exists():
            return path
    raise ConfigError(
        f"{'/'.join(parts)} is missing from the mlcheck installation (looked in {BUNDLE} and "
        f"{PACKAGE.parent}); reinstall mlcheck (pip install --force-reinstall mlcheck)"
    )
