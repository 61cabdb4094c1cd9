"""The trust boundary of discovery: a node a Sentinel names outside --discovery-allow is never
contacted (no connection, so no password), and nodes beyond --max-nodes are not polled; both
are logged once and counted. The Sentinel is the bench's stand-in (bench/fakesentinel.py), whose
nodes are the test's own listeners and count every connection they accept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.processes import FakeSentinel
from tests.conftest import ExporterProcess, wait_until
from tests.promtext import parse_series, value

REPLICAS = 30  # and one master: 31 named data nodes


@pytest.fixture
def fake_sentinel(tmp_path: Path) -> Iterator[FakeSentinel]:
    (tmp_path / "fake").mkdir()
    with FakeSentinel(REPLICAS, "silent", tmp_path / "fake") as fake:
        try:
            yield fake
        finally:
            fake.stop()
            if fake.proc.stdout is not None:
                fake.proc.stdout.close()


def _polled(exporter: ExporterProcess) -> set[str]:
    return {
        s.labels["instance"]
        for s in parse_series(exporter.metrics())
        if s.name == "redis_exporter_scrapes_total"
    }


def test_nodes_named_outside_the_allow_list_are_never_contacted(
    run_exporter: Callable[..., ExporterProcess], fake_sentinel: FakeSentinel
) -> None:
    exporter = run_exporter(
        "--sentinel-addr",
        fake_sentinel.address,
        "--discovery-allow",
        fake_sentinel.address,
        "--poll-interval",
        "1",
        "--poll-timeout",
        "0.5",
        env={"REDIS_PASSWORD": "never-sent-Pw"},
    )
    wait_until(
        lambda: (
            value(exporter.metrics(), "redis_exporter_discovery_rejected", master_name="mymaster")
            == REPLICAS + 1
        ),
        15,
        what="the named nodes counted as rejected",
    )
    time.sleep(3)  # three more polls of the Sentinel: still nobody else is contacted
    assert _polled(exporter) == {fake_sentinel.address}
    log = exporter.logs()
    for node in fake_sentinel.dead:
        line = f"Sentinel group mymaster names {node}, outside --discovery-allow"
        assert log.count(line) == 1, node
    stats = fake_sentinel.stop()
    assert stats["dead_connections"] == 0


def test_nodes_beyond_max_nodes_are_not_polled_and_counted(
    run_exporter: Callable[..., ExporterProcess], fake_sentinel: FakeSentinel
) -> None:
    exporter = run_exporter(
        "--sentinel-addr",
        fake_sentinel.address,
        "--max-nodes",
        "11",
        "--poll-interval",
        "1",
        "--poll-timeout",
        "0.5",
    )
    # The Sentinel and ten of the 31 nodes it names.
    capped = REPLICAS + 1 - 10
    wait_until(
        lambda: value(exporter.metrics(), "redis_exporter_discovery_capped_nodes") == capped,
        15,
        what="the nodes beyond --max-nodes counted",
    )
    time.sleep(2)
    polled = _polled(exporter)
    assert len(polled) == 11 and fake_sentinel.address in polled
    assert exporter.logs().count("beyond --max-nodes 11") == 1
    stats = fake_sentinel.stop()
    assert 0 < stats["dead_connections"] <= 10 * 4  # ten nodes, a reconnect per failed poll
