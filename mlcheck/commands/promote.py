"""`mlcheck promote`: move a registry alias only when the gate passed."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcheck.commands.args import Subparsers, add_suites_choice
from mlcheck.commands.gate import cmd_gate
from mlcheck.errors import ConfigError
from mlcheck.run.options import add_gate_options

__all__ = ["cmd_promote", "register"]


def register(subparsers: Subparsers) -> None:
    promote = subparsers.add_parser(
        "promote",
        help="move a registry alias (challenger -> champion) only when the gate passed",
        description="Gate models:/NAME@FROM (or read --gate-json) and, on PASS, point alias TO "
        "at that version; the decision is tagged on the version. Exit 0 promoted (or already "
        "there), 1 the gate failed (alias untouched), 2 could not decide.",
    )
    promote.add_argument("--name", required=True, help="registered model name")
    promote.add_argument(
        "--from",
        dest="source_alias",
        metavar="FROM",
        default="challenger",
        help="alias to promote (default challenger)",
    )
    promote.add_argument(
        "--to",
        dest="target_alias",
        metavar="TO",
        default="champion",
        help="alias to move (default champion)",
    )
    promote.add_argument(
        "--gate-json", metavar="PATH", help="use this gate run instead of running the gate"
    )
    promote.add_argument(
        "--allow-partial",
        action="store_true",
        help="promote on a gate run that left suites out or deselected gates (--only, -k, -m, "
        "suite paths); by default only a full run promotes (exit 2 otherwise)",
    )
    promote.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help="pytest files or folders when gating (default: as --suites says)",
    )
    add_suites_choice(promote)
    add_gate_options(promote.add_argument, "", skip=("model", "only"))
    promote.set_defaults(handler=cmd_promote)


def cmd_promote(args: argparse.Namespace) -> int:
    """Move --to to the version --from names, only when its gate passed."""
    from mlcheck.models.registry import promote, version_of
    from mlcheck.results import SuiteResult

    if args.gate_json:
        path = Path(args.gate_json)
        try:
            suite = SuiteResult.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ConfigError(
                f"--gate-json={str(path)!r} is not a readable gate.json: {exc}"
            ) from exc
    else:
        version_of(args.name, args.source_alias)  # a missing name or alias: exit 2 before gating
        args.model = f"models:/{args.name}@{args.source_alias}"
        cmd_gate(args, [])
        suite = SuiteResult.from_json(
            (Path(args.report_dir) / "gate.json").read_text(encoding="utf-8")
        )
    promotion = promote(
        args.name, suite, args.source_alias, args.target_alias, allow_partial=args.allow_partial
    )
    print(f"mlcheck promote: {promotion.message}")
    return promotion.exit_code
