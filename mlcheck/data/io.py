"""Reading and writing the tables a gate runs on (CSV or Parquet, chosen by extension)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlcheck.errors import ConfigError, DataError

__all__ = ["SUPPORTED_SUFFIXES", "read_table", "write_table"]

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def _suffix(path: Path, argument: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ConfigError(
            f"{argument}={str(path)!r} has the extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)} (CSV or Parquet)"
        )
    return suffix


def read_table(path: str | Path, argument: str = "path") -> pd.DataFrame:
    """Read a CSV or Parquet file; `argument` names the option the path came from in errors."""
    path = Path(path)
    suffix = _suffix(path, argument)
    if not path.is_file():
        raise DataError(
            f"{argument}={str(path)!r} does not exist or is not a file; "
            "pass the path of a CSV or Parquet file"
        )
    try:
        frame = pd.read_csv(path, low_memory=False) if suffix == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{argument}={str(path)!r} is empty; it needs a header and rows") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{argument}={str(path)!r} could not be read: {exc}") from exc
    if frame.empty:
        raise DataError(f"{argument}={str(path)!r} has no rows; a gate needs data to decide")
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
