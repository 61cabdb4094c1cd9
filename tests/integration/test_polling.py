"""Polling behaviour against real servers: persistent connections, per-node cadence when a
node hangs, and exactly-once slowlog counting."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_ha_exporter import sources
from redis_ha_exporter.address import parse_address
from redis_ha_exporter.config import Credentials
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.poller import NodePoller, PollSettings
from redis_ha_exporter.snapshot import NodeSnapshot
from tests.conftest import FLAVORS, wait_until
from tests.promtext import parse_series, value
from tests.topology import ServerProcess, start_standalone

DEBUG = {"enable-debug-command": "local"}


@pytest.fixture(params=FLAVORS)
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started = [
        start_standalone(request.param, tmp_path / f"n{i}", extra_config=DEBUG) for i in range(3)
    ]
    yield started
    for server in started:
        server.stop()


def _polls(exporter: Any, instance: str) -> float:
    return value(exporter.metrics(), "redis_exporter_scrapes_total", instance=instance) or 0


def test_hundred_polls_reuse_one_connection(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    node = servers[0]
    observer = redis.Redis(port=node.port)
    exporter = run_exporter(
        "--redis-addr", node.address, "--poll-interval", "0.05", "--poll-timeout", "0.04"
    )
    wait_until(lambda: _polls(exporter, node.address) >= 2, 20, what="first polls")
    start_polls = _polls(exporter, node.address)
    before = observer.info("stats")["total_connections_received"]
    wait_until(lambda: _polls(exporter, node.address) >= start_polls + 100, 60, what="100 polls")
    after = observer.info("stats")["total_connections_received"]
    assert after - before <= 1, f"{after - before} new connections over 100 polls"
    observer.close()


def test_a_frozen_node_goes_down_while_the_others_keep_their_cadence(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    interval, timeout = 1.0, 0.5
    args = []
    for server in servers:
        args += ["--redis-addr", server.address]
    # Every poll's timestamp must reach /metrics: no coalescing of bodies here.
    args += ["--metrics-min-age", "0"]
    exporter = run_exporter(*args, "--poll-interval", str(interval), "--poll-timeout", str(timeout))
    frozen, healthy = servers[0], servers[1:]
    wait_until(
        lambda: all(
            value(exporter.metrics(), "redis_up", instance=s.address) == 1 for s in servers
        ),
        20,
        what="all nodes up",
    )
    frozen.pause()
    paused_at = time.monotonic()
    try:
        wait_until(
            lambda: value(exporter.metrics(), "redis_up", instance=frozen.address) == 0,
            timeout + interval + 1.0,
            interval=0.05,
            what="frozen node down",
        )
        down_after = time.monotonic() - paused_at
        # While one node hangs, the others are polled on time: sample their last-poll
        # timestamps for a few intervals and check the gaps between polls.
        seen: dict[str, list[float]] = {s.address: [] for s in healthy}
        end = time.monotonic() + 4 * interval
        while time.monotonic() < end:
            text = exporter.metrics()
            for s in healthy:
                ts = value(text, "redis_exporter_last_poll_timestamp_seconds", instance=s.address)
                if ts is not None and (not seen[s.address] or seen[s.address][-1] != ts):
                    seen[s.address].append(ts)
            time.sleep(0.05)
        for address, stamps in seen.items():
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            assert len(stamps) >= 3, f"{address} polled only {len(stamps)} times in 4 intervals"
            assert max(gaps) < interval * 1.5, f"{address} poll gaps {gaps}"
        # Frozen for more than 3 intervals by now: only redis_up and the exporter's own
        # series remain for it, so Prometheus marks its data stale.
        wait_until(lambda: time.monotonic() - paused_at > 3 * interval + 0.5, 10)
        text = exporter.metrics()
        left = {s.name for s in parse_series(text) if s.labels.get("instance") == frozen.address}
        assert "redis_up" in left and "redis_memory_used_bytes" not in left
        assert all(n == "redis_up" or n.startswith("redis_exporter_") for n in left), left
        errors = [
            s.labels["err"]
            for s in parse_series(text)
            if s.name == "redis_exporter_last_scrape_error"
            and s.labels.get("instance") == frozen.address
            and s.value == 1
        ]
        assert errors and errors[0].startswith("timeout")
    finally:
        frozen.resume()
    wait_until(
        lambda: value(exporter.metrics(), "redis_up", instance=frozen.address) == 1,
        4 * interval * 1.2 + timeout + 2,
        what="node back up after SIGCONT",
    )
    print(f"frozen node reported down {down_after:.2f}s after SIGSTOP")


def test_slow_commands_are_counted_exactly_once(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    node = servers[0]
    client = redis.Redis(port=node.port)
    client.config_set("slowlog-log-slower-than", 10000)  # 10 ms
    exporter = run_exporter(
        "--redis-addr", node.address, "--poll-interval", "0.3", "--poll-timeout", "0.2"
    )

    def debug_count() -> float:
        return (
            value(
                exporter.metrics(),
                "redis_slowlog_entries_total",
                instance=node.address,
                cmd="debug",
            )
            or 0.0
        )

    wait_until(lambda: _polls(exporter, node.address) >= 2, 20, what="baseline poll")
    base = debug_count()
    k = 0
    for burst in (2, 1, 3):  # spread over several polls
        for _ in range(burst):
            client.execute_command("DEBUG", "SLEEP", "0.02")
            k += 1
        polls = _polls(exporter, node.address)

        def two_more(p: float = polls) -> bool:
            return _polls(exporter, node.address) >= p + 2

        wait_until(two_more, 10, what="polls")
    assert debug_count() - base == k
    duration = value(
        exporter.metrics(),
        "redis_slowlog_duration_seconds_total",
        instance=node.address,
        cmd="debug",
    )
    assert duration is not None and duration >= k * 0.02
    client.slowlog_reset()
    polls = _polls(exporter, node.address)
    wait_until(lambda: _polls(exporter, node.address) >= polls + 3, 10, what="polls after reset")
    assert debug_count() - base == k
    client.execute_command("DEBUG", "SLEEP", "0.02")
    wait_until(lambda: debug_count() - base == k + 1, 10, what="entry after reset counted")
    text = exporter.metrics()
    assert value(text, "redis_slowlog_entries_missed_total", instance=node.address) == 0
    # No arguments or client addresses reach the label: only the command word.
    cmds = {s.labels["cmd"] for s in parse_series(text) if s.name == "redis_slowlog_entries_total"}
    assert cmds == {"debug"}
    client.close()


def test_an_idle_connection_closed_by_the_server_is_replaced_without_a_failed_poll(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    node = servers[0]
    client = redis.Redis(port=node.port)
    exporter = run_exporter(
        "--redis-addr", node.address, "--poll-interval", "0.2", "--poll-timeout", "0.15"
    )
    wait_until(lambda: _polls(exporter, node.address) >= 2, 20, what="first polls")
    ours = [c for c in client.client_list() if c["name"] == "redis-ha-exporter"]
    assert len(ours) == 1
    client.client_kill_filter(_id=ours[0]["id"])
    polls = _polls(exporter, node.address)
    downs = 0
    while _polls(exporter, node.address) < polls + 5:
        downs += value(exporter.metrics(), "redis_up", instance=node.address) == 0
        time.sleep(0.02)
    assert downs == 0
    assert len([c for c in client.client_list() if c["name"] == "redis-ha-exporter"]) == 1
    client.close()


def test_a_node_that_comes_back_is_up_within_one_interval_and_the_timeout(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    interval, timeout = 1.0, 0.5
    node = servers[0]
    exporter = run_exporter(
        "--redis-addr",
        node.address,
        "--poll-interval",
        str(interval),
        "--poll-timeout",
        str(timeout),
        "--metrics-min-age",
        "0",
    )
    exporter.wait_up(node.address)
    node.stop()
    wait_until(
        lambda: value(exporter.metrics(), "redis_up", instance=node.address) == 0, 10, what="down"
    )
    # Several failed attempts in a row: an exponential backoff would have grown to 4 intervals.
    failed = _polls(exporter, node.address)
    wait_until(lambda: _polls(exporter, node.address) >= failed + 4, 20, what="4 failed polls")
    node.relaunch()
    back = time.monotonic()
    wait_until(
        lambda: value(exporter.metrics(), "redis_up", instance=node.address) == 1,
        10,
        interval=0.05,
        what="up again",
    )
    took = time.monotonic() - back
    print(f"redis_up 1 {took:.2f}s after the node was back")
    # One interval plus the timeout, and slack for a busy machine.
    assert took <= interval + timeout + 1.0, f"redis_up 1 only {took:.2f}s after the node was back"


def _slowlog_ids(exporter: Any, instance: str) -> tuple[float, float]:
    """(newest slowlog id, entries counted plus missed) as the exporter reports them."""
    text = exporter.metrics()
    counted = sum(
        s.value
        for s in parse_series(text)
        if s.name == "redis_slowlog_entries_total" and s.labels["instance"] == instance
    )
    missed = value(text, "redis_slowlog_entries_missed_total", instance=instance) or 0.0
    return value(text, "redis_slowlog_last_id", instance=instance) or 0.0, counted + missed


def _burst(client: redis.Redis, exporter: Any, instance: str) -> float:
    """300 SETs in one go (each a slowlog entry), then two polls; the poll count after."""
    with client.pipeline(transaction=False) as pipe:
        for i in range(300):
            pipe.set(f"burst:{i}", i)
        pipe.execute()
    polls = _polls(exporter, instance)
    wait_until(lambda: _polls(exporter, instance) >= polls + 2, 10, what="polls")
    return polls


def test_a_slowlog_burst_larger_than_one_fetch_is_counted_in_full(
    servers: list[ServerProcess], run_exporter: Any
) -> None:
    node = servers[0]
    client = redis.Redis(port=node.port)
    client.config_set("slowlog-log-slower-than", 0)  # every command is a slow one
    client.config_set("slowlog-max-len", 10000)
    exporter = run_exporter(
        "--redis-addr",
        node.address,
        "--poll-interval",
        "1",
        "--poll-timeout",
        "0.5",
        "--slowlog-fetch",
        "16",
    )
    wait_until(lambda: _polls(exporter, node.address) >= 2, 20, what="baseline poll")

    def sets() -> float:
        text = exporter.metrics()
        found = value(text, "redis_slowlog_entries_total", instance=node.address, cmd="set")
        return found or 0.0

    base_id, base_seen = _slowlog_ids(exporter, node.address)
    polls = _burst(client, exporter, node.address)
    assert sets() == 300
    assert (
        value(exporter.metrics(), "redis_slowlog_entries_missed_total", instance=node.address) == 0
    )
    # Every id is counted once: the newest id moved exactly as far as counted + missed.
    last_id, seen = _slowlog_ids(exporter, node.address)
    assert seen - base_seen == last_id - base_id

    # A log too short to hold the burst: what left it is missed, and only that.
    client.config_set("slowlog-max-len", 50)
    wait_until(lambda: _polls(exporter, node.address) >= polls + 4, 10, what="polls")
    base_id, base_seen = _slowlog_ids(exporter, node.address)
    before_sets = sets()
    polls = _burst(client, exporter, node.address)
    last_id, seen = _slowlog_ids(exporter, node.address)
    assert seen - base_seen == last_id - base_id
    assert 0 < sets() - before_sets <= 50 * 2  # at most one full log per poll
    client.close()


def _exporter_connections(node: ServerProcess) -> int:
    with redis.Redis(port=node.port) as observer:
        return sum(c.get("name") == "redis-ha-exporter" for c in observer.client_list())


def test_a_stopped_poller_closes_its_socket_for_good(servers: list[ServerProcess]) -> None:
    # /scrape evicts on-demand pollers this way: each must give its socket back to the OS,
    # not to a pool that outlives it.
    node = servers[0]
    spec = NodeSpec(parse_address(node.address), Credentials())
    published: list[NodeSnapshot] = []

    async def scenario() -> tuple[bool, int, int]:
        pollers = [
            NodePoller(spec, PollSettings(interval=60, timeout=2), sources.ALL, published.append)
            for _ in range(20)
        ]
        ok = all([await p.poll_once() for p in pollers])
        during = _exporter_connections(node)
        for poller in pollers:
            await poller.stop()
        await asyncio.sleep(0.2)  # the server notices the closed sockets
        return ok, during, _exporter_connections(node)

    ok, during, after = asyncio.run(scenario())
    assert ok and all(s.up for s in published)
    assert (during, after) == (20, 0)
