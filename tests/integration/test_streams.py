"""Watched streams against real servers: every series as the server's own XINFO reports it
(through redis-py), a missing or non-stream named key with no series and never sent XINFO,
consumers left out on request, and the cap and the time budget setting
redis_exporter_streams_truncated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import FLAVORS, polling
from tests.promtext import parse_series, value
from tests.topology import Flavor, start_standalone
from tools import settings_table

SeriesKey = tuple[str, str, str, str, str]  # name, db, stream, group, consumer


def _streams(text: str) -> dict[SeriesKey, float]:
    return {
        (
            s.name,
            s.labels["db"],
            s.labels["stream"],
            s.labels.get("group", ""),
            s.labels.get("consumer", ""),
        ): s.value
        for s in parse_series(text)
        if s.name.startswith("redis_stream_")
    }


def _ms(entry_id: bytes) -> int:
    """An id's milliseconds part, as redis_exporter exports it."""
    return int(entry_id.split(b"-")[0])


def _idle(client: redis.Redis, stream: str) -> dict[tuple[str, str], float]:
    return {
        (group["name"].decode(), c["name"].decode()): c["idle"] / 1000
        for group in client.xinfo_groups(stream)
        for c in client.xinfo_consumers(stream, group["name"])
    }


def _expected(client: redis.Redis, db: str, stream: str, consumers: bool) -> dict[SeriesKey, float]:
    """Every series of `stream` from what redis-py's XINFO reports, idle times aside."""
    info = client.xinfo_stream(stream)
    on = ("db" + db, stream)
    out: dict[SeriesKey, float] = {
        ("redis_stream_length", *on, "", ""): info["length"],
        ("redis_stream_radix_tree_keys", *on, "", ""): info["radix-tree-keys"],
        ("redis_stream_radix_tree_nodes", *on, "", ""): info["radix-tree-nodes"],
        ("redis_stream_last_generated_id", *on, "", ""): _ms(info["last-generated-id"]),
        ("redis_stream_groups", *on, "", ""): info["groups"],
    }
    if "entries-added" in info:  # Redis 7+
        out[("redis_stream_entries_added_total", *on, "", "")] = info["entries-added"]
        out[("redis_stream_max_deleted_entry_id", *on, "", "")] = _ms(info["max-deleted-entry-id"])
    if info["first-entry"] is not None:
        out[("redis_stream_first_entry_id", *on, "", "")] = _ms(info["first-entry"][0])
        out[("redis_stream_last_entry_id", *on, "", "")] = _ms(info["last-entry"][0])
    for group in client.xinfo_groups(stream):
        of = (*on, group["name"].decode())
        out[("redis_stream_group_consumers", *of, "")] = group["consumers"]
        out[("redis_stream_group_messages_pending", *of, "")] = group["pending"]
        out[("redis_stream_group_last_delivered_id", *of, "")] = _ms(group["last-delivered-id"])
        for field in ("entries-read", "lag"):  # nil when the server cannot tell: no sample
            if group.get(field) is not None:
                name = "redis_stream_group_" + field.replace("-", "_")
                out[(name, *of, "")] = group[field]
        for c in client.xinfo_consumers(stream, group["name"]) if consumers else ():
            pending = ("redis_stream_group_consumer_messages_pending", *of, c["name"].decode())
            out[pending] = c["pending"]
    return out


def _failed_calls(client: redis.Redis) -> list[str]:
    return [k for k, v in client.info("commandstats").items() if v.get("failed_calls")]


def _calls(client: redis.Redis, command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def _orders(client: redis.Redis) -> None:
    """Five entries, one deleted; billing read by alice (2) and bob (1), audit by carol (1),
    every read left pending."""
    ids = [client.xadd("events:orders", {"n": i}) for i in range(5)]
    client.xdel("events:orders", ids[3])
    client.xgroup_create("events:orders", "billing", id="0")
    client.xgroup_create("events:orders", "audit", id="0")
    client.xreadgroup("billing", "alice", {"events:orders": ">"}, count=2)
    client.xreadgroup("billing", "bob", {"events:orders": ">"}, count=1)
    client.xreadgroup("audit", "carol", {"events:orders": ">"}, count=1)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_every_series_is_what_xinfo_reports_and_a_missing_named_stream_has_none(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        _orders(client)
        client.xgroup_create("events:empty", "idle", id="$", mkstream=True)
        client.rpush("events:list", "a")  # matched by the pattern, not a stream
        client.rpush("queue", "a")  # named, not a stream
        other = redis.Redis(port=server.port, db=1)
        other.xadd("jobs", {"a": 1})
        idle_before = _idle(client, "events:orders")
        exporter = polling(
            run_exporter,
            server.address,
            "--check-streams",
            "events:*",
            "--check-single-streams",
            "db1=jobs,gone,queue",
        )
        text = exporter.after_polls(server.address)
        idle_after = _idle(client, "events:orders")
        got = _streams(text)
        idle = {(k[3], k[4]): v for k, v in got.items() if k[0].endswith("_idle_seconds")}
        assert {k for k in idle} == {("billing", "alice"), ("billing", "bob"), ("audit", "carol")}
        for consumer, seconds in idle.items():
            assert idle_before[consumer] <= seconds <= idle_after[consumer]
        assert {k: v for k, v in got.items() if not k[0].endswith("_idle_seconds")} == {
            **_expected(client, "0", "events:orders", consumers=True),
            **_expected(client, "0", "events:empty", consumers=True),
            **_expected(other, "1", "jobs", consumers=True),
        }
        # The empty stream has its length and group, but no entry to give an id.
        assert got[("redis_stream_length", "db0", "events:empty", "", "")] == 0
        assert ("redis_stream_first_entry_id", "db0", "events:empty", "", "") not in got
        assert value(text, "redis_exporter_streams_truncated") == 0
        # XINFO never went to a key that is not a stream, nor to one that is gone.
        admin = redis.Redis(port=server.port)
        assert _failed_calls(admin) == []
        assert _calls(admin, "xinfo|consumers") > 0
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_excluding_consumer_metrics_leaves_out_their_series_and_xinfo_consumers(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        _orders(client)
        exporter = polling(
            run_exporter,
            server.address,
            "--check-single-streams",
            "events:orders",
            "--streams-exclude-consumer-metrics",
        )
        got = _streams(exporter.after_polls(server.address))
        assert got == _expected(client, "0", "events:orders", consumers=False)
        assert (
            got[("redis_stream_group_messages_pending", "db0", "events:orders", "billing", "")] == 3
        )
        assert _calls(client, "xinfo|consumers") == 0
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_streams_past_the_cap_are_left_out_and_truncated_is_1(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        exporter = polling(
            run_exporter, server.address, "--check-streams", "s:*", "--check-streams-max", "2"
        )
        # Walks over no stream first: the first walk after start may be cut by the poller's
        # deadline (the node's phase), and the walker logs only a change to stopping early.
        exporter.after_polls(server.address)
        assert value(exporter.metrics(), "redis_exporter_streams_truncated") == 0
        logged = len(_stopped_early(exporter))
        client = redis.Redis(port=server.port)
        for i in range(5):
            client.xadd(f"s:{i}", {"a": i})
        text = exporter.after_polls(server.address, polls=3)
        lengths = [k for k in _streams(text) if k[0] == "redis_stream_length"]
        assert len(lengths) == 2
        assert value(text, "redis_exporter_streams_truncated") == 1
        assert value(text, "redis_exporter_walk_truncated", source="check-streams") == 1
        lines = _stopped_early(exporter)[logged:]
        assert len(lines) == 1 and "--check-streams-max" in lines[0], lines
    finally:
        server.stop()


def _stopped_early(exporter: Any) -> list[str]:
    return [line for line in exporter.logs().splitlines() if "stopped early" in line]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_30000_streams_stop_at_the_budget(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        client = redis.Redis(port=server.port)
        total = 30_000
        pipe = client.pipeline(transaction=False)
        for i in range(total):
            pipe.xadd(f"big:{i}", {"a": 1})
        pipe.execute()
        budget = 0.2
        exporter = polling(
            run_exporter,
            server.address,
            "--check-streams",
            "big:*",
            "--check-streams-max",
            str(total),
            "--check-streams-budget",
            str(budget),
            interval="1",
        )
        text = exporter.after_polls(server.address, polls=2)
        assert value(text, "redis_exporter_streams_truncated") == 1
        found = len([k for k in _streams(text) if k[0] == "redis_stream_length"])
        assert 0 < found < total
        seconds = value(text, "redis_exporter_walk_duration_seconds", source="check-streams")
        assert seconds is not None
        # It stops between round trips: past the budget by at most one round.
        assert budget <= seconds < budget + 0.5
        lines = _stopped_early(exporter)
        assert len(lines) == 1 and "--check-streams-budget" in lines[0], lines
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_readme_acl_reads_every_stream_series_without_a_refusal(
    flavor: Flavor, tmp_path: Path, run_exporter: Any
) -> None:
    server = start_standalone(flavor, tmp_path / "node")
    try:
        admin = redis.Redis(port=server.port)
        lines = [settings_table.acl_line("data"), settings_table.keys_acl_line()]
        if "valkey_version" in admin.info("server"):
            lines.append(settings_table.valkey_acl_line())
        for line in lines:
            admin.execute_command(*line.replace("CHANGE-ME", "streams-Pw-1").split())
        _orders(admin)
        exporter = run_exporter(
            "--redis-addr",
            server.address,
            "--redis-user",
            "exporter",
            "--poll-interval",
            "0.3",
            "--poll-timeout",
            "0.25",
            "--metrics-min-age",
            "0",
            "--check-streams",
            "events:*",
            "--check-single-streams",
            "gone",
            env={"REDIS_PASSWORD": "streams-Pw-1"},
        )
        exporter.wait_up(server.address)
        got = _streams(exporter.after_polls(server.address))
        assert {k: v for k, v in got.items() if not k[0].endswith("_idle_seconds")} == (
            _expected(admin, "0", "events:orders", consumers=True)
        )
        assert "refused" not in exporter.logs()
        assert not [e for e in admin.acl_log() if e.get("username") == "exporter"]
    finally:
        server.stop()
