"""Captured traffic on disk: the Parquet files `mlcheck serve --capture DIR` writes, and the
labels `mlcheck label` joins to them later.

A capture folder holds `capture-*.parquet` (the features of every predicted row plus
`CAPTURE_COLUMNS`) and, once labels arrived, `labels.parquet` (request id, row, label).
Read back, the folder is the labelled rows when labels exist, else every captured row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlcheck.errors import DataError

__all__ = [
    "CAPTURE_COLUMNS",
    "CAPTURE_PREFIX",
    "LABELS_FILE",
    "capture_files",
    "join_labels",
    "read_capture",
]

#: The columns a capture adds to the features.
CAPTURE_COLUMNS = ("request_id", "row", "model_version", "captured_at", "prediction")
CAPTURE_PREFIX = "capture-"
LABELS_FILE = "labels.parquet"
_KEYS = ["request_id", "row"]


def capture_files(folder: Path) -> list[Path]:
    """The finished capture files in `folder`, oldest first."""
    return sorted(p for p in folder.glob(f"{CAPTURE_PREFIX}*.parquet") if p.is_file())


def _captured(folder: Path, argument: str) -> pd.DataFrame:
    files = capture_files(folder)
    if not files:
        raise DataError(
            f"{argument}={str(folder)!r} is a folder without capture files "
            f"({CAPTURE_PREFIX}*.parquet); serve the model with `mlcheck serve --capture "
            f"{folder}`, or pass a CSV or Parquet file"
        )
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def read_capture(
    folder: Path, argument: str = "--current", files: list[Path] | None = None
) -> pd.DataFrame:
    """The captured rows of `folder` (of `files` in it, if given): only the labelled ones
    when `labels.parquet` exists."""
    if files is None:
        frame = _captured(folder, argument)
    else:
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    labels_path = folder / LABELS_FILE
    if labels_path.is_file():
        frame = frame.merge(pd.read_parquet(labels_path), on=_KEYS, how="inner")
    return frame


def join_labels(folder: Path, labels: pd.DataFrame, id_column: str, target: str) -> tuple[int, int]:
    """Write `folder/labels.parquet` from `labels` (a request id per row, `row` when a
    request held several rows, and the label); returns (labelled rows, captured rows)."""
    captured = _captured(folder, "--capture")[_KEYS]
    for column in (id_column, target):
        if column not in labels.columns:
            raise DataError(
                f"the labels have no column {column!r} (columns: {', '.join(map(str, labels))});"
                " pass --id-column and --target naming the request id and the label"
            )
    given = labels.rename(columns={id_column: "request_id"})
    given["request_id"] = given["request_id"].astype(str)
    if "row" not in given.columns:
        sizes = captured.groupby("request_id").size()
        batched = sizes[sizes > 1].index.intersection(pd.Index(given["request_id"]))
        if len(batched):
            raise DataError(
                f"request {batched[0]!r} predicted {int(sizes[batched[0]])} rows, so a label per "
                "request id is ambiguous; add a 'row' column (the row's place in its request)"
            )
        given["row"] = 0
    if given.duplicated(_KEYS).any():
        raise DataError("the labels name a request id (and row) twice; keep one label per row")
    joined = captured.merge(given[[*_KEYS, target]], on=_KEYS, how="inner")
    joined.to_parquet(folder / LABELS_FILE, index=False)
    return len(joined), len(captured)
