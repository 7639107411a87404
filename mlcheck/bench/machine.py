"""What a benchmark ran on: the date, the cores and the versions of what was measured."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from typing import Any

__all__ = ["machine", "versions"]

_PACKAGES = ("mlcheck", "numpy", "scipy", "pandas", "xgboost", "mlflow", "evidently")


def versions(packages: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    """Installed versions of `packages` ("missing" for one that is not installed)."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
    }
