"""`/scrape?target=` against real servers: polled nodes come from the cache without opening a
connection, unknown ones only when `--scrape-allow` matches, with the credentials of the
pattern they match (none for a plain pattern), credentials never from the URL."""

from __future__ import annotations

import gzip
import os
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, ExporterProcess
from tests.promtext import parse_series
from tests.topology import ServerProcess, free_port, start_standalone

PASSWORD = "scrape-Pw-7741"
GZIP = {"Accept-Encoding": "gzip"}

Identity = tuple[str, frozenset[tuple[str, str]]]


@pytest.fixture(params=FLAVORS)
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two standalone nodes with the same password: one configured, one not."""
    started = [
        start_standalone(request.param, tmp_path / f"n{i}", password=PASSWORD) for i in (0, 1)
    ]
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def scrape(
    exporter: ExporterProcess, target: str, **headers: str
) -> tuple[int, bytes, dict[str, str]]:
    return exporter.get("/scrape?" + urllib.parse.urlencode({"target": target}), headers)


def connections(client: redis.Redis) -> int:
    """Connections the server has accepted; `client` keeps its own one open."""
    return int(client.info("stats")["total_connections_received"])


def allowing(tmp_path: Path, known: str, pattern: str, password: str | None = PASSWORD) -> Path:
    """A config polling `known` (with PASSWORD) whose `scrape_allow:` admits `pattern`,
    with a password file holding `password` (a plain pattern when None)."""
    secret = tmp_path / "scrape-password"
    secret.write_text(PASSWORD + "\n")
    entry = f'"{pattern}"'
    if password is not None:
        (tmp_path / "pattern-password").write_text(password + "\n")
        entry = f'{{pattern: "{pattern}", password_file: "{tmp_path / "pattern-password"}"}}'
    config = tmp_path / "scrape.yaml"
    config.write_text(
        f'redis_addr: ["{known}"]\nredis_password_file: "{secret}"\nscrape_allow:\n  - {entry}\n'
    )
    return config


def identities(text: str, instance: str | None = None) -> set[Identity]:
    return {
        (s.name, frozenset((k, v) for k, v in s.labels.items() if k != "instance"))
        for s in parse_series(text)
        if instance is None or s.labels.get("instance") == instance
    }


def test_a_polled_node_is_served_from_the_cache_without_instance_label_or_connection(
    nodes: list[ServerProcess], run_exporter: Any
) -> None:
    known, unknown = nodes
    exporter = run_exporter(
        "--redis-addr", known.address, "--poll-interval", "30", env={"REDIS_PASSWORD": PASSWORD}
    )
    exporter.wait_up(known.address)
    probes = {
        s.address: redis.Redis.from_url(f"redis://{s.address}", password=PASSWORD) for s in nodes
    }
    before = {address: connections(client) for address, client in probes.items()}

    status, body, headers = scrape(exporter, known.address)
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    series = parse_series(body.decode())
    assert series and not any("instance" in s.labels for s in series)
    assert {s.value for s in series if s.name == "redis_up"} == {1.0}
    # The same series as /metrics has for that node, minus the label Prometheus sets.
    assert identities(body.decode()) == identities(exporter.metrics(), known.address)

    # The node's second poll comes early (it moves the node to its phase): compare the gzip
    # body with plain ones of the same poll.
    for _ in range(5):
        plain = scrape(exporter, known.address)[1]
        status, zipped, headers = scrape(exporter, f"redis://{known.address}", **GZIP)
        assert status == 200 and headers["content-encoding"] == "gzip"
        if scrape(exporter, known.address)[1] == plain:
            break
    assert gzip.decompress(zipped) == plain

    # Not configured, not allowed: refused before any connection is opened.
    status, body, _ = scrape(exporter, unknown.address)
    assert status == 403 and b"--scrape-allow" in body
    for _ in range(20):
        assert scrape(exporter, known.address)[0] == 200
    assert {address: connections(client) for address, client in probes.items()} == before


def test_credentials_in_the_request_are_refused_and_never_echoed(
    nodes: list[ServerProcess], run_exporter: Any
) -> None:
    known = nodes[0]
    exporter = run_exporter(
        "--redis-addr",
        known.address,
        "--scrape-allow",
        "127.0.0.0/8",
        env={"REDIS_PASSWORD": PASSWORD},
    )
    for target in (
        f"redis://:{PASSWORD}@{known.address}",
        f"redis://admin:{PASSWORD}@{known.address}",
    ):
        status, body, _ = scrape(exporter, target)
        assert status == 400, body
        assert PASSWORD.encode() not in body
    status, body, _ = exporter.get(f"/scrape?target={known.address}&password={PASSWORD}")
    assert status == 400 and PASSWORD.encode() not in body
    assert exporter.get("/scrape")[0] == 400
    assert PASSWORD not in exporter.logs()


def test_an_allowed_unknown_target_is_polled_on_demand_over_one_kept_connection(
    nodes: list[ServerProcess], run_exporter: Any, tmp_path: Path
) -> None:
    known, unknown = nodes
    exporter = run_exporter("--config-file", str(allowing(tmp_path, known.address, "127.0.0.1:*")))
    probe = redis.Redis.from_url(f"redis://{unknown.address}", password=PASSWORD)
    before = connections(probe)
    for _ in range(5):
        status, body, _ = scrape(exporter, unknown.address, **GZIP)
        assert status == 200
        series = parse_series(gzip.decompress(body).decode())
        assert {s.value for s in series if s.name == "redis_up"} == {1.0}
        assert any(s.name == "redis_commands_total" for s in series)
        assert not any("instance" in s.labels for s in series)
    assert connections(probe) - before == 1
    # The on-demand node is not part of /metrics: Prometheus owns its `up`.
    assert unknown.address not in exporter.metrics()

    down = f"127.0.0.1:{free_port()}"
    status, body, _ = scrape(exporter, down)
    assert status == 200
    series = parse_series(body.decode())
    assert {s.value for s in series if s.name == "redis_up"} == {0.0}
    errors = [s for s in series if s.name == "redis_exporter_last_scrape_error"]
    assert errors and errors[0].labels["err"].startswith("connection failed")


def test_spellings_of_one_address_share_one_connection_and_a_db_gets_its_own(
    nodes: list[ServerProcess], run_exporter: Any, tmp_path: Path
) -> None:
    known, unknown = nodes
    exporter = run_exporter("--config-file", str(allowing(tmp_path, known.address, "127.0.0.1:*")))
    port = unknown.port
    spellings = [
        f"127.0.0.1:{port}",
        f"[::ffff:127.0.0.1]:{port}",
        f"[::ffff:7f00:1]:{port}",
        f"[0:0:0:0:0:ffff:127.0.0.1]:{port}",
        f"redis://[0000::ffff:7f00:0001]:{port}",
    ]
    probe = redis.Redis.from_url(f"redis://{unknown.address}", password=PASSWORD)
    before = connections(probe)
    for target in spellings * 3:
        status, body, _ = scrape(exporter, target)
        assert status == 200, body
        assert {s.value for s in parse_series(body.decode()) if s.name == "redis_up"} == {1.0}
    assert connections(probe) - before == 1
    # Another database of that server is another node to poll.
    assert scrape(exporter, f"redis://127.0.0.1:{port}/1")[0] == 200
    assert connections(probe) - before == 2


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[bytes]]]:
    """A listener of the test's own: the address, and what connections sent it (an empty entry
    for each one accepted). It answers every read with an error, as a server that is not Redis
    would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    received: list[bytes] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                received.append(data)
                conn.sendall(b"-ERR not a redis\r\n")

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            received.append(b"")  # one empty entry per connection accepted
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}", received
    stop.set()
    listener.close()


def test_a_plain_pattern_sends_no_credentials_and_a_pattern_with_a_file_sends_its_own(
    nodes: list[ServerProcess],
    run_exporter: Any,
    tmp_path: Path,
    recorder: tuple[str, list[bytes]],
) -> None:
    known, unknown = nodes
    address, received = recorder
    other = f"pattern-Pw-{os.getpid()}"
    (tmp_path / "other").write_text(other + "\n")
    secret = tmp_path / "data-password"
    secret.write_text(PASSWORD + "\n")
    config = tmp_path / "scrape.yaml"
    # The first pattern a target matches gives its credentials: the recorder's port is plain.
    config.write_text(
        f'redis_addr: ["{known.address}"]\n'
        f'redis_password_file: "{secret}"\n'
        "scrape_allow:\n"
        f'  - "127.0.0.1:{address.rpartition(":")[2]}"\n'
        f'  - {{pattern: "127.0.0.1:{unknown.port}", password_file: "{secret}"}}\n'
        f'  - {{pattern: "127.0.0.1:*", user: "someone", password_file: "{tmp_path / "other"}"}}\n'
    )
    exporter = run_exporter("--config-file", str(config))
    exporter.wait_up(known.address)

    status, body, _ = scrape(exporter, address)
    assert status == 200
    assert {s.value for s in parse_series(body.decode()) if s.name == "redis_up"} == {0.0}
    sent = b"".join(received)
    assert sent, "the recorder was polled"
    assert b"AUTH" not in sent.upper() and PASSWORD.encode() not in sent
    assert other.encode() not in sent

    # The pattern with the password file: the real server answers.
    status, body, _ = scrape(exporter, unknown.address)
    assert {s.value for s in parse_series(body.decode()) if s.name == "redis_up"} == {1.0}

    # A pattern's own user and password, refused by a server that has neither: the error
    # says so, and names no secret.
    stray = start_standalone(FLAVORS[0], tmp_path / "stray")
    try:
        status, body, _ = scrape(exporter, stray.address)
        text = body.decode()
        assert {s.value for s in parse_series(text) if s.name == "redis_up"} == {0.0}
        assert other not in text and PASSWORD not in text
    finally:
        stray.stop()
    assert other not in exporter.logs() and PASSWORD not in exporter.logs()


def test_patterns_that_look_like_addresses_never_admit_names_nor_mapped_ipv4(
    run_exporter: Any, recorder: tuple[str, list[bytes]]
) -> None:
    address, received = recorder
    port = address.rpartition(":")[2]
    unpolled = ("--redis-addr", f"127.0.0.1:{free_port()}")
    by_glob = run_exporter(*unpolled, "--scrape-allow", f"127.0.0.*:{port}")
    # Names the address glob must not match: they would be resolved and sent the password.
    for target in (f"127.0.0.a.localhost:{port}", f"127.0.0.1.nip.io:{port}"):
        status, body, _ = scrape(by_glob, target)
        assert status == 403, (target, body)
    by_ipv6 = run_exporter(*unpolled, "--scrape-allow", f"[::/0]:{port}")
    # IPv4 written as IPv6 is IPv4, outside ::/0.
    for target in (f"[::ffff:127.0.0.1]:{port}", f"[::ffff:7f00:1]:{port}"):
        status, body, _ = scrape(by_ipv6, target)
        assert status == 403, (target, body)
    assert received == [], "no connection was opened"
    # What the glob is for is admitted: the address literal, in either spelling.
    assert scrape(by_glob, f"[::ffff:127.0.0.1]:{port}")[0] == 200
    assert received
