"""`mlcheck init`: seed a repository with a policy measured on the user's own model and data,
a schema and a workflow (the work is in `init_seed`, the files' text in `init_files`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlcheck.commands.args import EXIT_PASS, Subparsers

__all__ = ["cmd_init", "register"]


def register(subparsers: Subparsers) -> None:
    init = subparsers.add_parser(
        "init",
        help="seed a repository: checks/gates.toml measured on your model, checks/schema.yaml, "
        "and a GitHub workflow (keeps existing files unless --force)",
        description="Measure the model (binary, multiclass or regression) on the reference data "
        "and write checks/gates.toml (quality thresholds: the measured interval loosened by its "
        "half-width and --margin, so the first run passes and a real regression fails; slices "
        "over low-cardinality categorical columns; latency and load thresholds from the "
        "model's own timings here, with headroom), checks/schema.yaml (inferred, to edit) and "
        ".github/workflows/mlcheck.yml (installs this mlcheck with pip and runs mlcheck gate). "
        "Existing files are kept and named; the missing ones are written.",
    )
    init.add_argument("--model", required=True, metavar="URI", help="the model to gate")
    init.add_argument(
        "--reference", required=True, metavar="PATH", help="labelled reference data (CSV/Parquet)"
    )
    init.add_argument("--target", default="y", metavar="COLUMN", help="label column (default y)")
    init.add_argument(
        "--current",
        metavar="PATH",
        help="the data the workflow gates and init times the model on (default: the reference)",
    )
    init.add_argument(
        "--directory", default=".", metavar="DIR", help="the repository root (default: here)"
    )
    init.add_argument(
        "--policy",
        metavar="PATH",
        help="write the policy here instead of DIR/checks/gates.toml (it names the schema "
        "relative to its own folder)",
    )
    init.add_argument(
        "--margin",
        type=float,
        default=0.02,
        help="regression tolerated below what was measured, 0 to 0.5 (default 0.02; for "
        "metrics in the target's units, a share of the measured value)",
    )
    init.add_argument(
        "--force", action="store_true", help="overwrite the files that exist (default: keep them)"
    )
    init.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from mlcheck.commands.init_seed import POLICY_FILE, init_repository, next_command

    directory = Path(args.directory)
    seeded = init_repository(
        args.model,
        Path(args.reference),
        args.target,
        directory,
        current=Path(args.current) if args.current else None,
        margin=args.margin,
        policy=Path(args.policy) if args.policy else None,
        force=args.force,
        progress=lambda line: print(f"mlcheck init: {line}", file=sys.stderr),
    )
    for path in seeded.written:
        print(f"wrote {path}")
    for path in seeded.kept:
        print(f"kept {path} (it exists; --force overwrites it)")
    t = seeded.timings
    if t is not None:
        served = (
            f"; served one row p95 {t.served_single_p95_ms:.3g} ms"
            if t.served_single_p95_ms is not None
            else f"; {t.note}"
        )
        print(
            f"timed here: predict one row p95 {t.single_p95_ms:.3g} ms, {t.batch_rows} rows "
            f"p95 {t.batch_p95_ms:.3g} ms{served} (thresholds with headroom: see the policy)"
        )
    if args.policy:
        policy: Path | None = Path(args.policy)
    else:
        elsewhere = directory.resolve() != Path.cwd().resolve()
        policy = directory / POLICY_FILE if elsewhere else None
    print(f"next: {next_command(args.model, args.reference, args.current, policy)}")
    return EXIT_PASS
