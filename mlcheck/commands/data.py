"""`mlcheck data`: demo bank-marketing rows, seeded, with a named drift scenario applied."""

from __future__ import annotations

import argparse

from mlcheck.commands.args import EXIT_PASS, Subparsers, positive_int
from mlcheck.data.scenario_names import SCENARIO_NAMES

__all__ = ["cmd_data", "register"]


def register(subparsers: Subparsers) -> None:
    data = subparsers.add_parser("data", help="generate demo bank-marketing data (CSV or Parquet)")
    data.add_argument(
        "--rows",
        type=positive_int,
        default=20_000,
        help="rows to generate (1 to 10,000,000; default 20000)",
    )
    data.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    data.add_argument("--out", required=True, metavar="PATH", help="output file, .csv or .parquet")
    data.add_argument(
        "--scenario",
        default="none",
        choices=list(SCENARIO_NAMES),
        help="a named change to the rows, for gate tests (default none); see the README",
    )
    data.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="how strong the scenario is: 0 none, 1 caught at the demo policy (default 1)",
    )
    data.set_defaults(handler=cmd_data)


def cmd_data(args: argparse.Namespace) -> int:
    from mlcheck.data.bank import generate
    from mlcheck.data.io import write_table
    from mlcheck.data.scenarios import apply_scenario

    frame = apply_scenario(generate(args.rows, args.seed), args.scenario, args.strength, args.seed)
    path = write_table(frame, args.out, "--out")
    change = (
        f", scenario {args.scenario} at strength {args.strength:g}"
        if args.scenario != "none"
        else ""
    )
    print(f"wrote {len(frame):,} rows (seed {args.seed}{change}) to {path}")
    return EXIT_PASS
