"""Signals an operator's tools send: SIGHUP reloads, SIGUSR1 and SIGUSR2 are logged, and the
exporter keeps running; SIGTERM stops it within seconds however many nodes never answer; a second
SIGTERM while it stops ends it at once."""

from __future__ import annotations

import functools
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

from tests.conftest import FLAVORS, ExporterProcess, wait_until
from tests.topology import ServerProcess, start_standalone


@pytest.fixture
def silent_ports() -> Iterator[Callable[[int], list[int]]]:
    """Loopback listeners that never accept: connections complete in the backlog and no byte
    ever comes back, as with a frozen server."""
    with ExitStack() as stack:

        def make(count: int) -> list[int]:
            ports = []
            for _ in range(count):
                sock = stack.enter_context(socket.socket())
                sock.bind(("127.0.0.1", 0))
                sock.listen(64)
                ports.append(sock.getsockname()[1])
            return ports

        yield make


def _logged(exporter: ExporterProcess, text: str) -> bool:
    return text in exporter.logs()


def _stopped_within(exporter: ExporterProcess, seconds: float) -> float:
    started = time.monotonic()
    exporter.proc.wait(seconds)
    return time.monotonic() - started


@pytest.mark.skipif(not FLAVORS, reason="no server binaries")
def test_hup_reloads_usr_signals_are_logged_and_the_exporter_keeps_polling(
    run_exporter: Callable[..., ExporterProcess], tmp_path: Path
) -> None:
    server: ServerProcess = start_standalone(FLAVORS[0], tmp_path / "node")
    try:
        exporter = run_exporter(
            "--redis-addr", server.address, "--poll-interval", "1", "--poll-timeout", "0.5"
        )
        exporter.wait_up(server.address)
        for sig, line in (
            (signal.SIGHUP, "configuration reloaded"),
            (signal.SIGUSR1, "received SIGUSR1: ignored"),
            (signal.SIGUSR2, "received SIGUSR2: ignored"),
        ):
            exporter.proc.send_signal(sig)
            wait_until(functools.partial(_logged, exporter, line), 10, what=f"{line!r}")
            assert exporter.proc.poll() is None, exporter.logs()
        before = exporter.metrics()
        assert exporter.get("/metrics")[0] == 200 and before
        exporter.proc.send_signal(signal.SIGTERM)
        _stopped_within(exporter, 10)
        assert exporter.proc.returncode == 0, exporter.logs()
    finally:
        server.stop()


def test_sigterm_stops_within_seconds_with_hundreds_of_silent_nodes(
    run_exporter: Callable[..., ExporterProcess],
    silent_ports: Callable[[int], list[int]],
    tmp_path: Path,
) -> None:
    ports = silent_ports(300)
    config = tmp_path / "targets.yaml"
    config.write_text("targets:\n" + "".join(f'  - addr: "127.0.0.1:{p}"\n' for p in ports))
    exporter = run_exporter(
        "--config-file", str(config), "--poll-interval", "2", "--poll-timeout", "1"
    )
    time.sleep(5)  # every node has timed out at least once and is trying again
    exporter.proc.send_signal(signal.SIGTERM)
    took = _stopped_within(exporter, 20)
    assert exporter.proc.returncode == 0, exporter.logs()[-2000:]
    assert took < 8, exporter.logs()[-2000:]


def test_a_second_sigterm_while_stopping_ends_the_process_at_once(
    run_exporter: Callable[..., ExporterProcess], silent_ports: Callable[[int], list[int]]
) -> None:
    # A /scrape of a node that never answers holds its HTTP connection for the poll timeout,
    # and a graceful stop waits for open requests: the second signal must not.
    (port,) = silent_ports(1)
    exporter = run_exporter(
        "--scrape-allow", f"127.0.0.1:{port}", "--poll-interval", "30", "--poll-timeout", "20"
    )

    def scrape() -> None:
        with suppress(OSError):
            urllib.request.urlopen(f"{exporter.url}/scrape?target=127.0.0.1:{port}", timeout=30)

    threading.Thread(target=scrape, daemon=True).start()
    time.sleep(1)
    exporter.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "received SIGTERM: stopping" in exporter.logs(), 10, what="stopping")
    time.sleep(1)
    assert exporter.proc.poll() is None, "the first signal waits for the open request"
    exporter.proc.send_signal(signal.SIGTERM)
    took = _stopped_within(exporter, 10)
    assert took < 3
    assert exporter.proc.returncode == 1
    assert "received SIGTERM again while stopping: exiting now" in exporter.logs()
