"""uvicorn's httptools protocol with a deadline for a request's head.

uvicorn times out idle keep-alive connections and (with the app's body timeout) slow bodies,
but a client that opens a connection and sends part of a request line or headers, then
nothing, holds the connection for ever (slowloris). Here the head of each request must arrive
within `ServingConfig.header_timeout_s` of the connection opening or of the request's first
byte after a keep-alive pause; otherwise the server answers 408 and closes the connection.
httptools is uvicorn's fast parser (what it picks by default when installed).
"""

from __future__ import annotations

import asyncio
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlcheck.serving.config import ServingConfig

__all__ = ["HeaderTimeoutProtocol"]

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 41\r\nconnection: close\r\n\r\n"
    b"the request head did not arrive in time\r\n"
)


@cache
def _header_timeout_s() -> float:
    return ServingConfig.from_env().header_timeout_s


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that answers 408 and closes when a request head is not in on time."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # the first request's clock runs from the connection

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a request's first byte (after a keep-alive pause: a new clock)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(_header_timeout_s(), self._timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()
