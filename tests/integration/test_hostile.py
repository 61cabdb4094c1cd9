"""A server that sends more than any Redis would: the node is `redis_up 0` with the reason, the
other nodes go on being polled, and the memory its reply took is given back."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import FLAVORS, ExporterProcess, wait_until
from tests.promtext import parse_series
from tests.topology import Flavor, ServerProcess, start_sentinel, start_standalone

HUGE = 50 << 20  # what every command of the flooding server is answered with


@pytest.fixture
def flooding_server() -> Iterator[str]:
    """A listener answering every connection with one 50 MB bulk string per read, until the
    peer goes: a broken server, or one that is not Redis at all."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()
    chunk = b"x" * (1 << 20)

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while not stop.is_set() and conn.recv(65536):
                    conn.sendall(b"$%d\r\n" % HUGE)
                    for _ in range(HUGE // len(chunk)):
                        conn.sendall(chunk)
                    conn.sendall(b"\r\n")
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def _sample(text: str, name: str, **labels: str) -> float | None:
    for series in parse_series(text):
        if series.name == name and all(series.labels.get(k) == v for k, v in labels.items()):
            return series.value
    return None


@pytest.mark.skipif(not FLAVORS, reason="no server binaries")
def test_a_reply_over_the_limit_is_a_down_node_and_its_memory_is_given_back(
    run_exporter: Callable[..., ExporterProcess], flooding_server: str, tmp_path: Path
) -> None:
    server: ServerProcess = start_standalone(FLAVORS[0], tmp_path / "node")
    try:
        config = tmp_path / "targets.yaml"
        config.write_text(
            f'targets:\n  - addr: "{server.address}"\n  - addr: "{flooding_server}"\n'
        )
        exporter = run_exporter(
            "--config-file", str(config), "--poll-interval", "1", "--poll-timeout", "0.8"
        )
        exporter.wait_up(server.address)

        def refused() -> str | None:
            text = exporter.metrics()
            polls = _sample(text, "redis_exporter_scrapes_total", instance=flooding_server)
            return text if polls is not None and polls >= 5 else None

        text = wait_until(refused, 30, what="five polls of the flooding server")
        assert _sample(text, "redis_up", instance=flooding_server) == 0
        errors = [
            s
            for s in parse_series(text)
            if s.name == "redis_exporter_last_scrape_error" and s.value == 1
        ]
        assert [s.labels["instance"] for s in errors] == [flooding_server]
        assert (
            "reply over the limit of 8388608 bytes (--max-reply-bytes)" in errors[0].labels["err"]
        )
        assert _sample(text, "redis_up", instance=server.address) == 1
        # Each poll read at most the limit before dropping the connection; nothing of the
        # 50 MB replies stays.
        rss = _sample(text, "process_resident_memory_bytes")
        assert rss is not None and rss < 80 << 20, rss
        log = exporter.logs()
        assert log.count(f"node {flooding_server} is down") == 1, log
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_group_name_with_a_line_break_is_left_out_everywhere(
    flavor: Flavor, run_exporter: Callable[..., ExporterProcess], tmp_path: Path
) -> None:
    # Its INFO line splits in two, so INFO and SENTINEL MASTERS would disagree on its name.
    master = start_standalone(flavor, tmp_path / "master")
    sentinel = start_sentinel(
        flavor, tmp_path / "sentinel", [f"sentinel monitor good 127.0.0.1 {master.port} 1"]
    )
    try:
        with redis.Redis(port=sentinel.port) as client:
            try:
                client.execute_command(
                    "SENTINEL", "MONITOR", "evil\nname", "127.0.0.1", master.port, 1
                )
            except redis.ResponseError as exc:
                # Valkey refuses such names itself: nothing can reach the exporter.
                assert "control characters are not allowed" in str(exc)
                return
        exporter = run_exporter(
            "--sentinel-addr", sentinel.address, "--poll-interval", "1", "--poll-timeout", "0.5"
        )
        exporter.wait_up(master.address)
        text = exporter.metrics()
        names = {s.labels["master_name"] for s in parse_series(text) if "master_name" in s.labels}
        assert names == {"good"}
        assert "evil" not in text
        status, page, _ = exporter.get("/api/topology")
        assert status == 200 and b"evil" not in page
    finally:
        sentinel.stop()
        master.stop()
