"""Capture of served traffic (`mlcheck serve --capture DIR`): every predicted row, with its
prediction, the model version and the request id, appended to Parquet files in DIR.

The request path only puts a reference to the request's columns on a bounded queue (never
waits); a writer thread turns them into files, each written to a temporary name and renamed,
so a reader never sees half a file. A file is written when it holds `max_rows` rows, when its
oldest row is `max_age_s` old, or when no row came for `idle_s` (so the rows of the last
requests are readable about a second after them, not a minute). Every row gets a unique
`capture_id` (`<writer>-<n>`): a request id is not one, clients that retry keep theirs. When
the queue is full the rows are dropped and counted (`ml_capture_dropped_rows_total`), never
the request; a capture folder deleted while serving is made again for the next file.
`mlcheck gate --current DIR` reads the folder back (`mlcheck.data.capture.read_capture`).
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlcheck.data.capture import CAPTURE_COLUMNS, CAPTURE_ID, CAPTURE_PREFIX, parquet_options

__all__ = ["Capture", "CaptureBatch"]

_STOP = object()
_LOGGER = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class CaptureBatch:
    """One request's rows as the writer receives them."""

    request_id: str
    model_version: str | None
    captured_at: float
    columns: dict[str, list[Any]]
    predictions: list[Any]


class Capture:
    """The bounded queue and the writer thread of one serving process."""

    def __init__(
        self,
        folder: str | Path,
        on_written: Callable[[int], None] = lambda rows: None,
        on_dropped: Callable[[int], None] = lambda rows: None,
        max_rows: int = 100_000,
        max_age_s: float = 60.0,
        queue_batches: int = 10_000,
        idle_s: float = 1.0,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.on_written, self.on_dropped = on_written, on_dropped
        self.max_rows, self.max_age_s, self.idle_s = max_rows, max_age_s, idle_s
        self._queue: queue.Queue[object] = queue.Queue(queue_batches)
        self._thread = threading.Thread(target=self._run, name="mlcheck-capture", daemon=True)
        self._sequence = 0
        #: This writer's part of every capture id; `_rows` numbers its rows.
        self._writer = secrets.token_hex(6)
        self._rows = 0

    def start(self) -> Capture:
        self._thread.start()
        return self

    def put(self, batch: CaptureBatch) -> None:
        """Hand one request's rows to the writer; drops (and counts) them if it is behind."""
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.on_dropped(len(batch.predictions))

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued and stop the writer."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    def _run(self) -> None:
        pending: list[CaptureBatch] = []
        rows, oldest, latest = 0, 0.0, 0.0
        while True:
            # nothing pending: wait for rows; else until the file is due (idle or old)
            due = min(latest + self.idle_s, oldest + self.max_age_s) if pending else None
            try:
                item = self._queue.get(
                    timeout=None if due is None else max(0.0, due - time.monotonic())
                )
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write_or_drop(pending)
                return
            now = time.monotonic()
            if isinstance(item, CaptureBatch):
                if not pending:
                    oldest = now
                pending.append(item)
                rows += len(item.predictions)
                latest = now
            if pending and (
                rows >= self.max_rows
                or now - oldest >= self.max_age_s
                or now - latest >= self.idle_s
            ):
                self._write_or_drop(pending)
                pending, rows = [], 0

    def _write_or_drop(self, batches: list[CaptureBatch]) -> None:
        """Write the batches; if the file cannot be written (a full disk, say), count their
        rows as dropped and say why, and keep capturing."""
        try:
            self._write(batches)
        except Exception as exc:
            rows = sum(len(batch.predictions) for batch in batches)
            self.on_dropped(rows)
            _LOGGER.warning("capture: %d rows dropped, %s: %s", rows, type(exc).__name__, exc)

    def _write(self, batches: list[CaptureBatch]) -> None:
        if not batches:
            return
        columns: dict[str, list[Any]] = {name: [] for name in batches[0].columns}
        meta: dict[str, list[Any]] = {name: [] for name in CAPTURE_COLUMNS}
        for batch in batches:
            count = len(batch.predictions)
            for name, values in batch.columns.items():
                columns.setdefault(name, []).extend(values)
            meta["request_id"].extend([batch.request_id] * count)
            meta["row"].extend(range(count))
            meta["model_version"].extend([batch.model_version] * count)
            meta["captured_at"].extend([batch.captured_at] * count)
            meta["prediction"].extend(batch.predictions)
        first = self._rows
        meta[CAPTURE_ID] = [f"{self._writer}-{n}" for n in range(first, first + len(meta["row"]))]
        frame = pd.DataFrame({**columns, **meta})
        frame["captured_at"] = pd.to_datetime(frame["captured_at"], unit="s", utc=True)
        self._sequence += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{CAPTURE_PREFIX}{stamp}-{os.getpid()}-{self._sequence:06d}.parquet"
        if not self.folder.is_dir():  # deleted while serving: every later row would be lost
            self.folder.mkdir(parents=True, exist_ok=True)
            _LOGGER.warning("capture: the folder %s was gone; made it again", self.folder)
        temporary = self.folder / f".{name}.tmp"
        try:
            frame.to_parquet(temporary, index=False, **parquet_options(frame.columns))
            os.replace(temporary, self.folder / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._rows = first + len(frame)
        self.on_written(len(frame))
