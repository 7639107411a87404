"""Reading and writing the tables a gate runs on (CSV or Parquet, chosen by extension)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from mlcheck.data.capture import read_capture
from mlcheck.data.partitions import is_partitioned, partition_files
from mlcheck.errors import ConfigError, DataError

__all__ = [
    "CSV_DELIMITERS",
    "SUPPORTED_SUFFIXES",
    "read_partitions",
    "read_table",
    "sniff_delimiter",
    "write_table",
]

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")

#: The delimiters a CSV file may use; `read_table` picks one from the file's first bytes.
CSV_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024


def _suffix(path: Path, argument: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ConfigError(
            f"{argument}={str(path)!r} has the extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)} (CSV or Parquet)"
        )
    return suffix


def sniff_delimiter(path: Path) -> str:
    """The delimiter of a CSV file among `CSV_DELIMITERS` (`csv.Sniffer` on its first 64 KB,
    cut at the last whole line); "," when the sample does not tell."""
    with path.open("rb") as handle:
        sample = handle.read(_SNIFF_BYTES)
    if len(sample) == _SNIFF_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n")]
    text = sample.decode("utf-8-sig", errors="replace")
    try:
        return csv.Sniffer().sniff(text, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path, argument: str = "path") -> pd.DataFrame:
    """Read a CSV or Parquet file, or a capture folder (`mlcheck.data.capture`); `argument`
    names the option the path came from in errors.

    A CSV file may be delimited by `,`, `;`, tab or `|` (detected from its first bytes). A CSV
    file that still reads as one column is refused (DataError): a gate needs the features and
    the target, and one column almost always means another delimiter.
    """
    if is_partitioned(str(path)):  # a folder or glob of Parquet partitions
        return read_partitions(str(path), argument)
    path = Path(path)
    if path.is_dir():  # a folder of served traffic (mlcheck serve --capture)
        return read_capture(path, argument)
    suffix = _suffix(path, argument)
    if not path.is_file():
        raise DataError(
            f"{argument}={str(path)!r} does not exist or is not a file; "
            "pass the path of a CSV or Parquet file"
        )
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, sep=sniff_delimiter(path), low_memory=False)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{argument}={str(path)!r} is empty; it needs a header and rows") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{argument}={str(path)!r} could not be read: {exc}") from exc
    if frame.empty:
        raise DataError(f"{argument}={str(path)!r} has no rows; a gate needs data to decide")
    if suffix == ".csv" and frame.shape[1] == 1:
        header = str(frame.columns[0])
        header = header if len(header) <= 60 else header[:57] + "..."
        raise DataError(
            f"{argument}={str(path)!r} has one column ({header!r}); is it delimited by "
            "something other than , ; tab or |? Save it with one of those delimiters "
            "(a header row of column names, then one row per line) or as Parquet"
        )
    return frame


def read_partitions(path: str, argument: str) -> pd.DataFrame:
    """Every Parquet partition `path` names, in one frame (in memory: --engine local)."""
    files = partition_files(path, argument)
    try:
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"{argument}={path!r} could not be read: {exc}") from exc
    if frame.empty:
        raise DataError(f"{argument}={path!r} has no rows; a gate needs data to decide")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path, argument: str = "path") -> Path:
    """Write a frame as CSV or Parquet by the path's extension; returns the path."""
    path = Path(path)
    suffix = _suffix(path, argument)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path
