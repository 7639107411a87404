"""Which gates a run ran: the named suites of `--only`, the paths pytest was given, and what
`-k`/`-m` deselected. A narrowed run says so in gate.json (`context.selection`), summary.md and
the terminal, so it never reads as a full run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcheck.errors import ConfigError

__all__ = ["SUITE_CHOICES", "SUITE_NAMES", "Selection", "overlap", "parse_only", "selected_paths"]

#: Which suites `mlcheck gate` runs: mlcheck's own, the policy's `[suites] extra`, or both.
SUITE_CHOICES = ("all", "builtin", "extra")

#: The suites `--only` names, each the files of mlcheck's own suites (relative to them) it runs.
SUITE_NAMES: dict[str, tuple[str, ...]] = {
    "quality": ("model_quality/test_quality.py", "model_quality/test_estimated.py"),
    "compare": ("model_quality/test_compare.py",),
    "serving": ("model_quality/test_serving.py",),
    "schema": ("schema",),
    "drift": ("drift",),
    "latency": ("latency/test_latency.py",),
    "load": ("latency/test_load.py",),
    "stack": ("stack",),
}


def parse_only(text: str | None) -> tuple[str, ...]:
    """The suite names of `--only quality,drift` in the order of SUITE_NAMES; () when not given.

    An unknown name is a ConfigError naming the option, the value and the valid names."""
    if text is None:
        return ()
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SUITE_NAMES]
    if unknown or not names:
        what = f"names the unknown suite {unknown[0]!r}" if unknown else "names no suite"
        raise ConfigError(
            f"--only={text!r} {what}; use one or more of: {', '.join(SUITE_NAMES)} "
            "(comma-separated, e.g. --only quality,drift)"
        )
    return tuple(name for name in SUITE_NAMES if name in names)


def selected_paths(names: Sequence[str], root: Path) -> list[Path]:
    """The files and folders under `root` (mlcheck's suites) that the suites `names` run."""
    return [root / part for name in names for part in SUITE_NAMES[name]]


def overlap(one: Path, other: Path) -> bool:
    """Whether one of the two paths is the other or inside it (a folder given to pytest and a
    suite file, either way round)."""
    return one.is_relative_to(other) or other.is_relative_to(one)


@dataclass(frozen=True)
class Selection:
    """What a run selected of mlcheck's suites (`root`) and what pytest deselected."""

    only: tuple[str, ...]
    args: tuple[str, ...]  # the paths or node ids pytest was given
    root: Path
    keyword: str = ""
    marks: str = ""
    deselected: int = 0

    def _given(self) -> list[tuple[Path, bool]]:
        """The paths given, resolved, each with whether it named a test within its file."""
        return [
            (Path(arg.split("::")[0]).resolve(), "::" in arg) for arg in self.args if arg.strip()
        ]

    def runs_builtin(self) -> bool:
        """Whether the run holds any of mlcheck's suites (else it is only a user's own)."""
        root = self.root.resolve()
        return bool(self.only) or any(overlap(path, root) for path, _ in self._given())

    def left_out(self) -> list[str]:
        """The suite names that did not run: not named by --only, or not under the paths
        given when any of them is inside mlcheck's suites (a run of only a user's own suite
        files leaves nothing of mlcheck's out)."""
        if self.only:
            return [name for name in SUITE_NAMES if name not in self.only]
        if not self.runs_builtin():
            return []
        root = self.root.resolve()
        whole = [path for path, node in self._given() if not node]
        return [
            name
            for name in SUITE_NAMES
            if not all(
                any((root / part).is_relative_to(path) for path in whole)
                for part in SUITE_NAMES[name]
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        """gate.json's `context.selection`: full, the suites, what was left out and why."""
        left_out = self.left_out()
        full = not left_out and self.deselected == 0
        if self.only:
            suites = list(self.only)
        elif self.runs_builtin():
            suites = [name for name in SUITE_NAMES if name not in left_out]
        else:
            suites = []
        data: dict[str, Any] = {
            "full": full,
            "suites": suites,
            "left_out": left_out,
            "paths": [] if self.only else [arg for arg in self.args if arg.strip()],
            "keyword": self.keyword or None,
            "marks": self.marks or None,
            "deselected": self.deselected,
        }
        data["summary"] = self._summary(full, left_out)
        return data

    def _shown(self) -> str:
        """What ran, as a person names it: the --only names, else the paths given (mlcheck's
        suites as suites/...)."""
        if self.only:
            return ", ".join(self.only)
        base = self.root.resolve().parent
        shown = []
        for arg in self.args:
            path = Path(arg.split("::")[0]).resolve()
            tail = arg[len(arg.split("::")[0]) :]
            shown.append(f"{path.relative_to(base) if path.is_relative_to(base) else path}{tail}")
        return ", ".join(shown)

    def _summary(self, full: bool, left_out: list[str]) -> str:
        if full:
            ran = "every gate suite ran" if self.runs_builtin() else "the suites given ran"
            return f"full run: {ran}, nothing deselected"
        parts = []
        if left_out:
            parts.append(f"only {self._shown()} ran (left out: {', '.join(left_out)})")
        if self.deselected:
            how = " ".join(
                f"{flag} {expr!r}"
                for flag, expr in (("-k", self.keyword), ("-m", self.marks))
                if expr
            )
            tests = "test" if self.deselected == 1 else "tests"
            parts.append(f"{how or 'pytest'} deselected {self.deselected} {tests}")
        return "partial run: " + "; ".join(parts)
