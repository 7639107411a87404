"""Build step: the wheel carries the gate suites, the stack files and the demo policy.

They stay where they are in the repository (`suites/`, `stack/`, `checks/`), so that
`pytest suites/...` and `locust -f suites/load.py` work in a checkout, and are copied into
`mlcheck/_bundle/` of the built package; `mlcheck.resources` finds them in either place.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("suites", "stack", "checks")


class build_py_with_bundle(build_py):  # noqa: N801 - setuptools' naming
    def run(self) -> None:
        super().run()
        bundle = Path(self.build_lib) / "mlcheck" / "_bundle"
        for name in BUNDLED:
            target = bundle / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(
                ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )


setup(cmdclass={"build_py": build_py_with_bundle})
