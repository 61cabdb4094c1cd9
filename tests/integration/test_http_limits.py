"""What a stranger can send the exporter's HTTP port: half-open connections, headers that never
end, more connections than the cap. A well-behaved scraper keeps getting /metrics throughout,
and the exporter's memory stays where it was."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress

import pytest

from redis_ha_exporter.server import HEADER_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_BYTES
from tests.conftest import ExporterProcess, wait_until
from tests.promtext import value


@pytest.fixture
def exporter(run_exporter: Callable[..., ExporterProcess]) -> ExporterProcess:
    # A node that does not exist: /metrics is small and the HTTP side is what is measured.
    return run_exporter(
        "--redis-addr", "127.0.0.1:1", "--poll-interval", "1", "--poll-timeout", "0.5"
    )


@pytest.fixture
def sockets() -> Iterator[Callable[[ExporterProcess], socket.socket]]:
    with ExitStack() as stack:

        def connect(exporter: ExporterProcess) -> socket.socket:
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", exporter.port)))
            return sock

        yield connect


def _rss(exporter: ExporterProcess) -> float:
    rss = value(exporter.metrics(), "process_resident_memory_bytes")
    assert rss is not None
    return rss


def _closed(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before closing, or None if it is still open after `timeout`."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_a_scraper_is_served_through_half_open_connections_and_header_floods(
    exporter: ExporterProcess, sockets: Callable[[ExporterProcess], socket.socket]
) -> None:
    before = _rss(exporter)
    idle = [sockets(exporter) for _ in range(300)]
    floods = [sockets(exporter) for _ in range(30)]
    header = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Flood: "
    for sock in floods:
        sock.sendall(header)
    sent = 0
    for _ in range(10):  # 30 connections x 100 kB, never finished
        for sock in floods:
            with suppress(OSError):
                sock.sendall(b"a" * 10_000)
        sent += 10_000
        assert exporter.get("/metrics")[0] == 200
    for sock in floods:
        answer = _closed(sock, 5)
        assert answer is not None and answer.startswith(b"HTTP/1.1 431 "), answer
    assert sent > MAX_HEADER_BYTES
    for _ in range(20):
        assert exporter.get("/metrics")[0] == 200
    assert _rss(exporter) < before + (20 << 20)
    assert all(_closed(sock, 0.01) is None for sock in idle[-10:])  # not needed yet: kept


def test_a_request_whose_headers_never_end_is_closed_after_the_header_timeout(
    exporter: ExporterProcess, sockets: Callable[[ExporterProcess], socket.socket]
) -> None:
    slow = sockets(exporter)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    assert _closed(slow, HEADER_TIMEOUT + 5) == b""
    assert HEADER_TIMEOUT - 1 <= time.monotonic() - started <= HEADER_TIMEOUT + 5
    # A kept connection answers one request, then must send the next one in time too.
    kept = sockets(exporter)
    kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    kept.settimeout(5)
    assert kept.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_beyond_the_connection_cap_the_oldest_waiting_connection_gives_way(
    exporter: ExporterProcess, sockets: Callable[[ExporterProcess], socket.socket]
) -> None:
    idle = [sockets(exporter) for _ in range(MAX_CONNECTIONS + 20)]
    for _ in range(10):
        assert exporter.get("/metrics")[0] == 200
    # The first ones opened were closed to make room; the newest are still open.
    assert _closed(idle[0], 5) == b""
    assert _closed(idle[-1], 0.05) is None


def test_running_out_of_descriptors_is_logged_once_and_its_end_too(
    run_exporter: Callable[..., ExporterProcess],
) -> None:
    """Past the limit the event loop accepts and drops connections without a word, and node
    connections fail; the exporter says why, once, and once more when it is over."""
    exporter = run_exporter(
        "--redis-addr",
        "127.0.0.1:1",
        "--poll-interval",
        "1",
        "--poll-timeout",
        "0.5",
        "--log-format",
        "json",
        open_files=64,
    )
    held: list[socket.socket] = []
    try:
        for _ in range(80):
            held.append(socket.create_connection(("127.0.0.1", exporter.port)))
        wait_until(lambda: "descriptors_low" in exporter.logs(), 15, what="the warning")
        time.sleep(3)  # more polls, more checks: still one line
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: "descriptors_ok" in exporter.logs(), 15, what="the all-clear")
    events = [
        json.loads(line).get("event")
        for line in exporter.logs().splitlines()
        if line.startswith("{")
    ]
    assert events.count("descriptors_low") == 1, events
    assert events.count("descriptors_ok") == 1, events
    assert exporter.get("/metrics")[0] == 200
