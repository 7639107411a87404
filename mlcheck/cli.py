"""The `mlcheck` command: data, train, serve, gate, init, promote, report, load, stack.

Exit codes: 0 every gate passed; 1 a gate failed (the model is blocked); 2 the run could not
decide (bad usage or configuration, unreadable data, a service that did not start, no tests).

Each command is a module of `mlcheck.commands` with its parser (`register`) and its handler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlcheck.commands import (
    bench,
    data,
    gate,
    init,
    label,
    load,
    monitor,
    promote,
    report,
    serve,
    stack,
    train,
)
from mlcheck.commands.args import EXIT_ERROR
from mlcheck.errors import MlcheckError

__all__ = ["main"]

#: The commands, in the order `mlcheck --help` lists them.
COMMANDS = (data, train, serve, gate, promote, stack, init, load, report, label, monitor, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlcheck",
        description="Decide whether a machine-learning model may ship: quality, schema, drift "
        "and latency gates run as pytest suites against a real serving core.",
        epilog="Exit codes: 0 pass, 1 a gate failed (blocked), 2 could not decide.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, extra = argv[:index], argv[index + 1 :]
    args = build_parser().parse_args(argv)
    try:
        if args.command == "gate":
            return gate.cmd_gate(args, extra)
        return int(args.handler(args))
    except MlcheckError as exc:
        print(f"mlcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # a file that cannot be read or written: never exit 1 (a verdict)
        print(f"mlcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as exc:  # an unforeseen failure could not decide: never exit 0 or 1
        import traceback

        traceback.print_exc()
        print(f"mlcheck {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
