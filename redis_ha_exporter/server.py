"""uvicorn's HTTP protocol with the limits it lacks: request headers must arrive within a time
and a size, and connections are capped, the stalest one giving way to a new one.

Without them, 30 connections each sending a never-finished 10 MB header took the exporter from
57 to 365 MB, and half-open connections were held for ever, until descriptors ran out and
a well-behaved scraper could not connect.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from redis_ha_exporter.process import open_fds

log = logging.getLogger("redis_ha_exporter.server")

# A request's line and headers: Prometheus sends a few hundred bytes; browsers a few kB.
MAX_HEADER_BYTES = 16 << 10
# From a connection's first byte of a request (or its opening) to the end of its headers.
HEADER_TIMEOUT = 10.0
# Open HTTP connections; beyond it the one waiting longest for its headers is closed.
MAX_CONNECTIONS = 512

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\nconnection: close\r\n\r\n"
    b"request headers over 16384 bytes"
)


class LimitedHttp(HttpToolsProtocol):
    """One HTTP connection, closed when its request headers are late or too large."""

    # Connections still reading a request's headers, oldest first: those of the process's
    # one server.
    waiting: ClassVar[OrderedDict[LimitedHttp, None]] = OrderedDict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            oldest = next(iter(LimitedHttp.waiting), None)
            if oldest is not None:
                oldest._close("the connection limit was reached")
            else:
                self.transport.close()
                return
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._header_timer is not None:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._headers_done()
                if not self.transport.is_closing():
                    self.transport.write(_TOO_LARGE)
                    self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._headers_done()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()  # the next request on this connection

    # -- the limits ----------------------------------------------------------------------

    def _await_headers(self) -> None:
        if self._header_timer is None:
            self._header_bytes = 0
            self._header_timer = self.loop.call_later(
                HEADER_TIMEOUT, self._close, "its request headers took too long"
            )
            LimitedHttp.waiting[self] = None

    def _headers_done(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        LimitedHttp.waiting.pop(self, None)

    def _close(self, why: str) -> None:
        self._headers_done()
        if not self.transport.is_closing():
            log.debug("closing an HTTP connection: %s", why)
            self.transport.close()


def raise_open_files_limit() -> None:
    """The soft limit on open files raised to the hard one: each node polled and each scraper
    holds a descriptor, and the soft default (often 1,024) is the first to run out."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.info("could not raise the open files limit: %s", exc)


def open_files_limit() -> int | None:
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ValueError, OSError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


class DescriptorWatch:
    """One warning when the open descriptors come near the limit, one line when they are well
    below it again. When they run out, new HTTP connections are accepted and dropped at once by
    the event loop and new node connections fail, and neither would say why.

    `check()` is called for every batch of polls and reads the count at most once per
    `every` seconds (one `stat` of /proc/self/fd)."""

    HIGH, LOW = 0.9, 0.75  # of the soft limit

    def __init__(
        self,
        every: float = 1.0,
        count: Callable[[], int | None] = open_fds,
        limit: Callable[[], int | None] = open_files_limit,
    ) -> None:
        self._every = every
        self._count = count
        self._limit = limit
        self._next = 0.0
        self.low = False

    def check(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self._every
        count, limit = self._count(), self._limit()
        if count is None or not limit:
            return
        if not self.low and count >= self.HIGH * limit:
            self.low = True
            log.warning(
                "%d of %d open file descriptors in use: at the limit, new scrapes and node "
                "connections fail; raise the limit (ulimit -n, LimitNOFILE=) or poll fewer nodes",
                count,
                limit,
                extra={"event": "descriptors_low"},
            )
        elif self.low and count < self.LOW * limit:
            self.low = False
            log.info(
                "%d of %d open file descriptors in use again",
                count,
                limit,
                extra={"event": "descriptors_ok"},
            )
