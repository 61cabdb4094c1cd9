"""`/scrape?target=` against real servers: polled nodes come from the cache without opening a
connection, unknown ones only when `--scrape-allow` matches, credentials never from the URL."""

from __future__ import annotations

import gzip
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
    nodes: list[ServerProcess], run_exporter: Any
) -> None:
    known, unknown = nodes
    exporter = run_exporter(
        "--redis-addr",
        known.address,
        "--scrape-allow",
        "127.0.0.1:*",
        env={"REDIS_PASSWORD": PASSWORD},
    )
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
    nodes: list[ServerProcess], run_exporter: Any
) -> None:
    known, unknown = nodes
    exporter = run_exporter(
        "--redis-addr",
        known.address,
        "--scrape-allow",
        "127.0.0.1:*",
        env={"REDIS_PASSWORD": PASSWORD},
    )
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
