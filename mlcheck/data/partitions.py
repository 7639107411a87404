"""Partitioned Parquet inputs: which files a folder, glob or URL names, and how large they are.

Paths go through fsspec, so a folder or glob on any filesystem the machine (and a cluster's
workers) can read works the same as a local one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

import fsspec
import pandas as pd
import pyarrow.parquet as pq

from mlcheck.data.capture import capture_files
from mlcheck.errors import ConfigError, DataError

__all__ = [
    "AUTO_MEMORY_SHARE",
    "ENGINE_CHOICES",
    "Engine",
    "EngineChoice",
    "in_memory_bytes",
    "is_parquet",
    "is_partitioned",
    "partition_files",
    "sample_partitions",
]

#: Where a run computes: in this process (pandas) or on a Dask cluster.
Engine = Literal["local", "dask"]
#: What `--engine` may ask for: an engine, or `auto` (the inputs' size decides).
EngineChoice = Literal["auto", "local", "dask"]
ENGINE_CHOICES: tuple[EngineChoice, ...] = get_args(EngineChoice)
#: `--engine auto` picks Dask when the inputs' uncompressed size passes this share of memory.
AUTO_MEMORY_SHARE = 0.25
_PARQUET = (".parquet", ".pq")
_GLOB = set("*?[")


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in _GLOB)


def is_partitioned(path: str) -> bool:
    """A glob, or a folder holding Parquet files that is not a capture folder (the served
    traffic of `mlcheck serve --capture`, read by `mlcheck.data.capture`)."""
    if _has_glob(path):
        return True
    fs, root = fsspec.core.url_to_fs(path)
    if not fs.isdir(root) or (Path(path).is_dir() and capture_files(Path(path))):
        return False
    return bool(_folder_files(fs, root))


def is_parquet(path: str) -> bool:
    """A Parquet file, a folder of Parquet partitions, or a glob of Parquet files."""
    if path.lower().endswith(_PARQUET):
        return True
    return is_partitioned(path) and not _has_glob(path)


def _folder_files(fs: fsspec.AbstractFileSystem, root: str) -> list[str]:
    found = fs.glob(root.rstrip("/") + "/**")
    return sorted(p for p in found if p.lower().endswith(_PARQUET) and fs.isfile(p))


def partition_files(path: str, argument: str) -> list[str]:
    """The Parquet files `path` names (a file, a folder searched recursively, or a glob), as
    URLs every worker can open; a DataError when there are none."""
    fs, root = fsspec.core.url_to_fs(path)
    if _has_glob(path):
        files = sorted(p for p in fs.glob(root) if fs.isfile(p))
    elif fs.isdir(root):
        files = _folder_files(fs, root)
    elif fs.isfile(root):
        files = [root]
    else:
        raise DataError(
            f"{argument}={path!r} does not exist; pass a Parquet file, a folder of Parquet "
            "files or a glob such as 'data/day=*/*.parquet'"
        )
    if not files:
        raise DataError(f"{argument}={path!r} holds no Parquet files (*.parquet, *.pq)")
    bad = [f for f in files if not f.lower().endswith(_PARQUET)]
    if bad:
        raise ConfigError(
            f"{argument}={path!r} matches {bad[0]!r}, which is not Parquet; the Dask engine "
            "reads Parquet partitions only (write them with DataFrame.to_parquet)"
        )
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    if protocol in ("file", "local"):
        return [str(Path(f)) for f in files]
    return [fs.unstrip_protocol(f) for f in files]


@contextmanager
def _footer(name: str, argument: str) -> Iterator[pq.ParquetFile]:
    """`name` opened as a Parquet file; one that is not (truncated, another format) is a
    DataError naming the option and the file, not pyarrow's traceback."""
    with fsspec.open(name, "rb") as handle:
        try:
            parquet = pq.ParquetFile(handle)
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{argument}: {name!r} is not a readable Parquet file ({exc}); is it truncated "
                "or of another format? Write it again, or pass a CSV or Parquet file"
            ) from exc
        yield parquet


def sample_partitions(files: list[str], rows: int, argument: str = "--data") -> pd.DataFrame:
    """The first rows of every file, about `rows` in all: a sample that sees each partition
    (reading only the row groups it needs)."""
    each = max(1, -(-rows // len(files)))
    parts = []
    for name in files:
        with _footer(name, argument) as parquet:
            batch = next(parquet.iter_batches(batch_size=each), None)
            if batch is not None:
                parts.append(batch.to_pandas())
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def parquet_rows(files: list[str], argument: str = "--data") -> int:
    """The files' rows, from their footers (no data read)."""
    total = 0
    for name in files:
        with _footer(name, argument) as parquet:
            total += parquet.metadata.num_rows
    return total


def in_memory_bytes(files: list[str], argument: str = "--data") -> int:
    """The uncompressed size of the files' row groups, from their footers (no data read)."""
    total = 0
    for name in files:
        with _footer(name, argument) as parquet:
            meta = parquet.metadata
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


def memory_bytes() -> int:
    """This machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
