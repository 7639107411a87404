"""`mlcheck bench`: the benchmarks, side by side with the tools users would pick instead."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlcheck.bench.run import SECTIONS
from mlcheck.commands.args import EXIT_ERROR, EXIT_PASS, Subparsers

__all__ = ["cmd_bench", "register"]


def _readme(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no file {text!r}: name the README to rewrite")
    return path


def register(subparsers: Subparsers) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="benchmarks side by side with mlflow, Evidently and alibi-detect "
        "(reports/bench.json, bench.md)",
        description="Measure, in one run: the serving core vs `mlflow models serve` (wrk where "
        "installed), the drift gate vs Evidently and alibi-detect (alibi-detect from "
        ".venv-alibi, made by scripts/alibi-venv.sh, or $MLCHECK_ALIBI_PYTHON), the quality "
        "intervals vs a scikit-learn loop, the whole gate from 10k to 1M rows, and the gates "
        "over 2M to 20M rows of Parquet partitions on a Dask LocalCluster vs in memory. About "
        "16 minutes on 2 cores. Exit 2 when a section failed.",
    )
    bench.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)}; default: all)",
    )
    bench.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run, numbers not to be quoted"
    )
    bench.add_argument(
        "--report-dir", default="reports", metavar="DIR", help="where bench.json and bench.md go"
    )
    bench.add_argument(
        "--readme",
        type=_readme,
        metavar="README.md",
        help="also record the sections measured in benchmarks/bench.json beside this README and "
        "rewrite its tables between <!-- bench:NAME --> markers (not with --quick)",
    )
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from mlcheck.bench.run import run_bench

    path, failed = run_bench(args.only or SECTIONS, Path(args.report_dir), quick=args.quick)
    print(f"mlcheck bench: wrote {path} and {path.with_suffix('.json')}", file=sys.stderr)
    if args.readme is not None and not args.quick:
        from mlcheck.bench.readme import RECORD, record_run, update_readme

        record = args.readme.parent / RECORD
        merged = record_run(json.loads(path.with_suffix(".json").read_text()), record)
        names = update_readme(args.readme, merged)
        print(f"mlcheck bench: recorded in {record}; {args.readme}: {names}", file=sys.stderr)
    if failed:
        print(f"mlcheck bench: {failed} section(s) failed (see the report)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_PASS
