"""`mlcheck report`: re-render summary.md and index.html (with plots) from a gate.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcheck.commands.args import EXIT_PASS, Subparsers

__all__ = ["cmd_report", "register"]


def register(subparsers: Subparsers) -> None:
    report = subparsers.add_parser(
        "report", help="re-render summary.md and index.html (with plots) from a gate.json"
    )
    report.add_argument("--from", dest="source", required=True, metavar="PATH", help="a gate.json")
    report.add_argument(
        "--out", metavar="DIR", help="where to write (default: the gate.json's folder)"
    )
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from mlcheck.errors import DataError
    from mlcheck.reports import write_reports
    from mlcheck.results import SuiteResult

    source = Path(args.source)
    try:
        suite = SuiteResult.from_json(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"--from={str(source)!r} cannot be read ({exc}); pass a gate.json") from exc
    except (ValueError, KeyError) as exc:
        raise DataError(f"--from={str(source)!r} is not a gate.json: {exc}") from exc
    out = Path(args.out) if args.out else source.parent
    if out.resolve() == source.parent.resolve():
        from mlcheck.reports import to_markdown, write_index

        (out / "summary.md").write_text(to_markdown(suite, str(out)), encoding="utf-8")
        written = [out / "summary.md", write_index(suite, out)]
    else:
        written = write_reports(suite, out)
    print(f"rendered {', '.join(str(p) for p in written)} ({suite.verdict.value})")
    return EXIT_PASS
