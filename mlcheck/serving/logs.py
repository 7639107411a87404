"""Structured logs of the serving core (`--log-format json`): one JSON line per request and per
server event, on standard output, for a log stack to ingest.

A request line: `{"time", "event": "request", "request_id", "route", "method", "status",
"latency_ms", "rows", "model_version", "predictions", "reason"}`; `predictions` holds the
predicted classes (classifiers) or values (regressors), `reason` why a request got no
prediction. The request id is the client's `X-Request-ID` when it is a plausible id, else a
new one; the response carries it back in `X-Request-ID`.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TextIO

import msgspec

__all__ = [
    "LOG_FORMATS",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "JsonLines",
    "RequestNote",
    "request_id",
    "uvicorn_log_config",
]

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = b"x-request-id"
_PLAUSIBLE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_ENCODER = msgspec.json.Encoder()


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID if it is 1-128 characters of letters, digits and `._:-`
    (anything else could forge log lines), else a new random id."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and _PLAUSIBLE_ID.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


def _now() -> str:
    seconds = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{int(seconds % 1 * 1000):03d}Z"


@dataclass
class RequestNote:
    """The request's id, and what the predict route tells its log line (kept in the ASGI
    scope)."""

    request_id: str
    rows: int = 0
    predictions: list[Any] = field(default_factory=list)
    reason: str | None = None
    model_version: str | None = None


class JsonLines:
    """Writes one JSON object per line to `stream` (standard output by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        line = _ENCODER.encode({"time": _now(), "event": event, **fields})
        self.stream.write(line.decode() + "\n")
        self.stream.flush()


class JsonFormatter(logging.Formatter):
    """The server's own log records (uvicorn's start, stop and errors) as JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": _now(),
            "event": "server",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return _ENCODER.encode(fields).decode()


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's `log_config` that writes its records with `JsonFormatter` to standard output."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    logger = {"handlers": ["json"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": {"uvicorn": logger, "uvicorn.error": logger},
    }
