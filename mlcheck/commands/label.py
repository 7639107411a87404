"""`mlcheck label`: join labels that arrived later to captured traffic."""

from __future__ import annotations

import argparse

from mlcheck.commands.args import EXIT_PASS, Subparsers, capture_folder

__all__ = ["cmd_label", "register"]


def register(subparsers: Subparsers) -> None:
    label = subparsers.add_parser(
        "label",
        help="join labels that arrived later to captured traffic (serve --capture DIR)",
        description="Add to DIR/labels.parquet the label of each captured row, matched by the "
        "request id (and `row`, the row's place in its request, when a request held several); "
        "every captured row of a retried request id takes its label. Labels are checked "
        "against the captured predictions (numbers for a regressor, 0/1 for a 0/1 model); "
        "label files accumulate and a row labelled again takes the latest label. Then "
        "`mlcheck gate --current DIR` gates the labelled rows, quality gates included.",
    )
    label.add_argument("--capture", required=True, metavar="DIR", help="the capture folder")
    label.add_argument(
        "--labels", required=True, metavar="FILE", help="CSV or Parquet with the labels"
    )
    label.add_argument(
        "--id-column",
        default="request_id",
        metavar="COLUMN",
        help="the labels' request id column (the X-Request-ID the requests were sent with; "
        "default: request_id)",
    )
    label.add_argument(
        "--target", default="y", metavar="COLUMN", help="the labels' label column (default: y)"
    )
    label.set_defaults(handler=cmd_label)


def cmd_label(args: argparse.Namespace) -> int:
    from mlcheck.data.capture import LABELS_FILE, label_capture
    from mlcheck.data.io import read_table

    folder = capture_folder(args.capture)
    joined = label_capture(folder, read_table(args.labels, "--labels"), args.id_column, args.target)
    print(
        f"mlcheck label: {joined.labelled:,} of {joined.captured:,} captured rows labelled "
        f"({folder / LABELS_FILE}); `mlcheck gate --current {folder}` now gates them"
    )
    for note in joined.notes():
        print(f"  {note}")
    return EXIT_PASS
