"""uvicorn's httptools protocol with bounds on a request's head: its time, size and headers.

uvicorn times out idle keep-alive connections and (with the app's body timeout) slow bodies,
but a client that opens a connection and sends part of a request line or headers, then
nothing, holds the connection for ever (slowloris). Here the head of each request must arrive
within `ServingConfig.header_timeout_s` of the connection opening or of the request's first
byte after a keep-alive pause; otherwise the server answers 408 and closes the connection.

httptools is uvicorn's fast parser (what it picks by default when installed); unlike h11
(`h11_max_incomplete_event_size`) it bounds neither the size of a head nor its number of
headers, and it keeps an unfinished header line in memory whole. Here a head of more than
`MAX_HEAD_BYTES` bytes or `MAX_HEADERS` headers gets 431 and the connection closes, as soon as
that many bytes have arrived (a head that never ends holds at most one read beyond the limit).

Every answer given here, before any route sees the request (408, 431, and the 400 of a
request the parser refuses), is JSON like the app's refusals, carries a new `X-Request-ID` and
is counted in `http_head_refusals_total{reason}`.
"""

from __future__ import annotations

import asyncio
import http
import json
import uuid
from functools import cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlcheck.serving.config import ServingConfig

__all__ = ["HEAD_REFUSALS", "MAX_HEADERS", "MAX_HEAD_BYTES", "HeaderTimeoutProtocol"]

#: Bytes a request line and its headers may take together (nginx allows 4 x 8 KiB by default,
#: h11 16 KiB, Node.js 16 KiB).
MAX_HEAD_BYTES = 65_536
#: Headers a request may carry (gunicorn's default limit; browsers send about 20).
MAX_HEADERS = 100

#: Why a request is answered before any route sees it: (status, field, what is wrong).
HEAD_REFUSALS: dict[str, tuple[int, str, str]] = {
    "header_too_large": (431, "headers", f"exceed {MAX_HEAD_BYTES} bytes (the limit)"),
    "too_many_headers": (431, "headers", f"are more than {MAX_HEADERS} (the limit)"),
    "malformed": (400, "request", "is not valid HTTP/1.1"),
    "head_timeout": (408, "headers", "did not arrive in time (the header timeout)"),
}


@cache
def _header_timeout_s() -> float:
    return ServingConfig.from_env().header_timeout_s


def _refusal(reason: str) -> bytes:
    status, field, error = HEAD_REFUSALS[reason]
    body = json.dumps({"detail": [{"row": None, "field": field, "error": error}]}).encode()
    phrase = http.HTTPStatus(status).phrase
    return b"".join(
        [
            f"HTTP/1.1 {status} {phrase}\r\n".encode(),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            b"x-request-id: " + uuid.uuid4().hex.encode() + b"\r\n",
            b"\r\n",
            body,
        ]
    )


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a head that breaks a bound."""


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that answers 408 and closes when a request head is not in on time,
    and 431 when it is too large or has too many headers."""

    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0  # bytes received while this request's head is unfinished
    _head_size = 0  # bytes of the request's URL and complete headers
    _header_count = 0
    _body_bytes = 0  # body bytes in the chunk being parsed
    _refused_for: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request's clock runs from the connection

    def data_received(self, data: bytes) -> None:
        """uvicorn's `data_received`, with the head's size counted and every refusal ours."""
        self._unset_keepalive_if_required()
        self._body_bytes = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refused_for is None:
                self.logger.warning("Invalid HTTP request received.")
            self._refuse(self._refused_for or "malformed")
            return
        if self._head_timer is not None:  # a head is unfinished: it holds what has come of it
            self._head_bytes += len(data) - self._body_bytes
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse("header_too_large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = self._header_count = 0
        self._arm()  # a request's first byte (after a keep-alive pause: a new clock)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._grow(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._refused_for = "too_many_headers"
            raise _Refused
        self._grow(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_bytes = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            self._refused_for = "header_too_large"
            raise _Refused

    def _arm(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(_header_timeout_s(), self._timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _timed_out(self) -> None:
        self._head_timer = None
        self._refuse("head_timeout")

    def _refuse(self, reason: str) -> None:
        """Answer `reason`'s status, close the connection and count it."""
        self._disarm()
        if self.transport.is_closing():
            return
        self.transport.write(_refusal(reason))
        self.transport.close()
        metrics = _metrics_of(self.app)
        if metrics is not None:
            metrics.head_refusals.labels(reason).inc()


def _metrics_of(app: Any) -> Any:
    """The `ServingMetrics` of the app uvicorn serves (inside uvicorn's own middleware)."""
    for _ in range(8):
        metrics = getattr(getattr(app, "state", None), "metrics", None)
        if metrics is not None:
            return metrics
        app = getattr(app, "app", None)
    return None
