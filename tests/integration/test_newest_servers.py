"""The newest servers live: COMMANDLOG counted per type and command on Valkey 8.1 and 9.1,
`valkey_version` on `redis_instance_info`, Valkey 9's keys with volatile items, and Redis 7.0
sent no command it lacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS
from tests.promtext import parse_series, value
from tests.topology import Flavor, ServerProcess, start_standalone

VALKEY = [f for f in FLAVORS if f.startswith("valkey")]
REDIS = [f for f in FLAVORS if f == "redis"]


@pytest.fixture
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    flavor: Flavor = request.param
    server = start_standalone(flavor, tmp_path / "node")
    yield server
    server.stop()


def _exporter(run_exporter: Any, node: ServerProcess) -> Any:
    exporter = run_exporter(
        "--redis-addr",
        node.address,
        "--poll-interval",
        "0.3",
        "--poll-timeout",
        "0.25",
        "--metrics-min-age",
        "0",
    )
    exporter.wait_up(node.address)
    return exporter


def _entries(text: str, kind: str, cmd: str) -> float:
    return value(text, "redis_commandlog_entries_total", type=kind, cmd=cmd) or 0


@pytest.mark.parametrize("node", VALKEY, indirect=True)
def test_commandlog_entries_are_counted_once_per_type_and_command(
    node: ServerProcess, run_exporter: Any
) -> None:
    client = redis.Redis(port=node.port)
    info = client.info("server")
    client.config_set("commandlog-reply-larger-than", 1024)
    client.config_set("commandlog-request-larger-than", 1024)
    client.set("before", "v" * 4096)  # in the log before the exporter: never counted
    exporter = _exporter(run_exporter, node)
    text = exporter.after_polls(node.address)
    assert value(text, "redis_commandlog_large_request_length", instance=node.address) == 1
    assert _entries(text, "large-request", "set") == 0
    client.set("big", "v" * 4096)
    for _ in range(3):
        client.get("big")
    text = exporter.after_polls(node.address)
    assert _entries(text, "large-request", "set") == 1
    assert _entries(text, "large-reply", "get") == 3
    reply_bytes = value(text, "redis_commandlog_reply_bytes_total", cmd="get")
    assert reply_bytes is not None and reply_bytes >= 3 * 4096
    assert value(text, "redis_commandlog_entries_missed_total", type="large-reply") == 0
    assert value(text, "redis_commandlog_reply_larger_than", instance=node.address) == 1024
    # A reset empties the logs; what was counted stays counted, once.
    client.execute_command("COMMANDLOG", "RESET", "large-reply")
    client.get("big")
    text = exporter.after_polls(node.address)
    assert _entries(text, "large-reply", "get") == 4
    (info_series,) = [s for s in parse_series(text) if s.name == "redis_instance_info"]
    assert info_series.labels["valkey_version"] == info["valkey_version"]
    assert info_series.labels["redis_version"] == "7.2.4"
    assert "refused" not in exporter.logs()
    client.close()


@pytest.mark.parametrize("node", REDIS, indirect=True)
def test_redis_is_sent_no_commandlog_and_exports_none(
    node: ServerProcess, run_exporter: Any
) -> None:
    client = redis.Redis(port=node.port)
    exporter = _exporter(run_exporter, node)
    text = exporter.after_polls(node.address)
    assert not [s for s in parse_series(text) if s.name.startswith("redis_commandlog")]
    assert "refused" not in exporter.logs()
    stats = client.info("commandstats")
    assert not [k for k in stats if "commandlog" in k]
    failed = {k: v for k, v in stats.items() if v.get("failed_calls") or v.get("rejected_calls")}
    assert failed == {}
    client.close()


@pytest.mark.parametrize("flavor", [f for f in FLAVORS if f == "valkey9"])
def test_valkey_9_keys_with_volatile_items_and_active_time(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        client.hset("h", mapping={"f1": "v", "f2": "v"})
        client.execute_command("HEXPIRE", "h", 600, "FIELDS", 1, "f1")
        exporter = _exporter(run_exporter, server)
        text = exporter.after_polls(server.address)
        assert value(text, "redis_db_keys_with_expiring_items", db="db0") == 1
        active = value(text, "redis_active_time_main_thread_seconds_total")
        assert active is not None and active > 0
        client.close()
    finally:
        server.stop()


def _bucket(text: str, cmd: str, le: str) -> float:
    return value(text, "redis_commands_latencies_usec_bucket", cmd=cmd, le=le) or 0


@pytest.mark.parametrize("flavor", FLAVORS)
def test_latency_histogram_and_latest_count_each_call_and_spike(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(
        flavor,
        tmp_path / "node",
        extra_config={"enable-debug-command": "local", "latency-monitor-threshold": "10"},
    )
    try:
        client = redis.Redis(port=server.port)
        for i in range(50):
            client.set(f"k{i}", "v")
        client.execute_command("DEBUG", "SLEEP", "0.02")
        exporter = _exporter(run_exporter, server)
        text = exporter.after_polls(server.address)
        name = "redis_commands_latencies_usec"
        assert value(text, f"{name}_count", cmd="set") == 50
        assert _bucket(text, "set", "+Inf") == 50
        bounds = sorted(
            (float(s.labels["le"]), s.value)
            for s in parse_series(text)
            if s.name == f"{name}_bucket" and s.labels["cmd"] == "set"
        )
        counts = [count for _, count in bounds]
        assert counts == sorted(counts)  # cumulative
        usec = client.info("commandstats")["cmdstat_set"]["usec"]
        assert value(text, f"{name}_sum", cmd="set") == usec
        # One 20 ms sleep: in no bucket below 20,000 us, in every one from 32,768 on.
        debug = {
            float(s.labels["le"]): s.value
            for s in parse_series(text)
            if s.name == f"{name}_bucket" and s.labels["cmd"] == "debug"
        }
        assert debug and all(c == (1 if le >= 20_000 else 0) for le, c in debug.items())
        # The same sleep is a latency spike; Valkey 8.1+ also counts the spikes and their sum.
        spikes = value(text, "redis_latency_spikes_total", event_name="command")
        total = value(text, "redis_latency_spikes_duration_seconds_total", event_name="command")
        if flavor.startswith("valkey"):
            assert spikes == 1 and total is not None and 0.02 <= total < 0.5
        else:
            assert spikes is None and total is None
        assert value(text, "redis_latency_spike_duration_seconds", event_name="command")
        client.close()
    finally:
        server.stop()
