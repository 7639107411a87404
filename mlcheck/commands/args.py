"""What the command modules share: exit codes, argument types and options used twice.

Exit codes: 0 every gate passed; 1 a gate failed (the model is blocked); 2 the run could not
decide (bad usage or configuration, unreadable data, a service that did not start, no tests).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeAlias

from mlcheck.errors import ConfigError

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAIL",
    "EXIT_PASS",
    "Subparsers",
    "add_suites_choice",
    "capture_folder",
    "positive_int",
    "tcp_port",
]

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

#: What `register(subparsers)` adds its command to: `mlcheck`'s subcommands.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def tcp_port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 1..65535, got {value}")
    return value


def add_suites_choice(parser: argparse.ArgumentParser) -> None:
    """--suites: which suites run when no SUITE is given (`mlcheck gate` and `promote`)."""
    from mlcheck.run.selection import SUITE_CHOICES

    parser.add_argument(
        "--suites",
        dest="which_suites",
        default="all",
        choices=SUITE_CHOICES,
        help="which suites run when no SUITE is given: mlcheck's own (builtin), the policy's "
        "[suites] extra (extra), or both (all, the default)",
    )


def capture_folder(value: str) -> Path:
    """--capture DIR of `mlcheck label` and `monitor`: the folder `mlcheck serve` writes."""
    folder = Path(value)
    if not folder.is_dir():
        raise ConfigError(
            f"--capture={value!r} is not a folder; pass the folder `mlcheck serve --capture "
            "DIR` writes"
        )
    return folder
