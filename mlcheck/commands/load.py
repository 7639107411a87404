"""`mlcheck load`: the path of the packaged locustfile."""

from __future__ import annotations

import argparse
import sys

from mlcheck.commands.args import EXIT_PASS, Subparsers

__all__ = ["cmd_load", "register"]


def register(subparsers: Subparsers) -> None:
    load = subparsers.add_parser(
        "load",
        help="print the path of mlcheck's locustfile (for locust -f, from any directory)",
    )
    load.set_defaults(handler=cmd_load)


def cmd_load(args: argparse.Namespace) -> int:
    from mlcheck.run.serving import LOCUSTFILE

    print(LOCUSTFILE)
    print(
        f"# run it against a serving core: locust -f {LOCUSTFILE} --headless -u 20 -r 10 -t 20s "
        "--host http://127.0.0.1:8000",
        file=sys.stderr,
    )
    return EXIT_PASS
