"""redis_ha_exporter.metrics.node: one snapshot -> self-metrics always, data only while fresh."""

from __future__ import annotations

import pytest

from redis_ha_exporter.metrics.node import node_families
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources import ALL
from redis_ha_exporter.sources.sentinel import SentinelRecord
from redis_ha_exporter.sources.slowlog import SlowlogEntry, SlowlogRecord
from tests.unit.captured import (
    FLAVORS,
    GROUP,
    captured_exposition,
    config_values,
    exposition,
    load_json,
    sentinel_view,
    snapshot,
    with_records,
)

SELF_METRICS = {
    "redis_up",
    "redis_exporter_last_scrape_duration_seconds",
    "redis_exporter_last_scrape_connect_time_seconds",
    "redis_exporter_last_scrape_error",
    "redis_exporter_last_poll_timestamp_seconds",
    "redis_exporter_scrapes_total",
    "redis_exporter_scrape_duration_seconds",
    "redis_exporter_node_restarts_total",  # data nodes only
}
RESTARTS = "redis_exporter_node_restarts_total"


def test_a_node_never_polled_has_no_families() -> None:
    snap = NodeSnapshot("10.0.0.1:6379", "unknown")
    assert node_families(snap, ALL, include_data=True).families == {}


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("role", ["master", "replica", "sentinel"])
def test_without_data_only_self_metrics_remain(flavor: str, role: str) -> None:
    exp = exposition(snapshot(flavor, role), include_data=False)
    expected = SELF_METRICS if role != "sentinel" else SELF_METRICS - {RESTARTS}
    assert set(exp.types) == expected
    assert {s.name for s in exp.series} <= SELF_METRICS | {
        "redis_exporter_scrape_duration_seconds_sum",
        "redis_exporter_scrape_duration_seconds_count",
    }
    assert exp.value("redis_up") == 1.0


def test_self_metrics_describe_the_poll() -> None:
    snap = snapshot("redis70", "master")
    exp = captured_exposition("redis70", "master")
    assert exp.value("redis_up", instance=snap.instance) == 1.0
    assert exp.value("redis_exporter_last_scrape_error", err="") == 0.0
    assert exp.value("redis_exporter_last_scrape_duration_seconds") == snap.duration
    assert exp.value("redis_exporter_last_poll_timestamp_seconds") == snap.polled_at
    assert exp.value("redis_exporter_scrapes_total") == snap.polls
    assert exp.value("redis_exporter_scrape_duration_seconds_sum") == snap.poll_seconds_total
    assert exp.value("redis_exporter_scrape_duration_seconds_count") == snap.polls


@pytest.mark.parametrize("flavor", FLAVORS)
def test_failed_poll_keeps_data_series_but_drops_instance_info(flavor: str) -> None:
    up = captured_exposition(flavor, "master")
    snap = snapshot(flavor, "master", up=False, error="timeout after 5s", polls=4)
    down = exposition(snap)
    assert down.value("redis_up") == 0.0
    assert down.value("redis_exporter_last_scrape_error", err="timeout after 5s") == 1.0
    assert "redis_instance_info" in up.types
    assert "redis_instance_info" not in down.types
    assert down.value("redis_memory_used_bytes") == up.value("redis_memory_used_bytes")
    assert down.values("redis_db_keys") == up.values("redis_db_keys")


def test_a_node_that_never_succeeded_has_only_self_metrics() -> None:
    snap = snapshot("redis70", "master", up=False, error="connection refused", last_success_at=None)
    assert set(exposition(snap).types) == SELF_METRICS


def test_every_series_carries_the_instance_label() -> None:
    snap = snapshot("valkey81", "master")
    exp = captured_exposition("valkey81", "master")
    assert exp.series
    assert all(s.labels.get("instance") == snap.instance for s in exp.series)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_config_values_become_config_metrics(flavor: str) -> None:
    exp = captured_exposition(flavor, "master")
    config = config_values(flavor)
    assert exp.value("redis_config_maxmemory") == float(config["maxmemory"])
    assert exp.value("redis_config_maxclients") == float(config["maxclients"])
    assert exp.value("redis_config_io_threads") == float(config["io-threads"])
    assert exp.value("redis_config_repl_backlog_size") == float(config["repl-backlog-size"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_client_output_buffer_limit_is_split_per_class(flavor: str) -> None:
    exp = captured_exposition(flavor, "master")
    words = config_values(flavor)["client-output-buffer-limit"].split()
    classes = [words[i : i + 4] for i in range(0, len(words), 4)]
    assert [c[0] for c in classes] == ["normal", "slave", "pubsub"]
    for cls, hard, soft, seconds in classes:
        by_class = {"class": cls}
        assert exp.value(
            "redis_config_client_output_buffer_limit_bytes", **by_class, limit="hard"
        ) == float(hard)
        assert exp.value(
            "redis_config_client_output_buffer_limit_bytes", **by_class, limit="soft"
        ) == float(soft)
        assert exp.value(
            "redis_config_client_output_buffer_limit_overcome_seconds", **by_class, limit="soft"
        ) == float(seconds)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_slowlog_metrics_follow_the_captured_log(flavor: str) -> None:
    raw = load_json(f"slowlog_{flavor}.json")
    newest = max(raw, key=lambda item: item[0])
    exp = captured_exposition(flavor, "master")
    assert exp.value("redis_slowlog_length") == len(raw)
    assert exp.value("redis_slowlog_last_id") == newest[0]
    assert exp.value("redis_last_slow_execution_duration_seconds") == newest[2] / 1e6
    for cmd in {item[3][0].lower() for item in raw}:
        mine = [item for item in raw if item[3][0].lower() == cmd]
        assert exp.value("redis_slowlog_entries_total", cmd=cmd) == len(mine)
        assert exp.value("redis_slowlog_duration_seconds_total", cmd=cmd) == pytest.approx(
            sum(item[2] for item in mine) / 1e6
        )
    assert exp.value("redis_slowlog_entries_missed_total") == 0.0


def test_slowlog_counters_are_absent_before_the_first_slowlog_poll() -> None:
    exp = exposition(with_records(snapshot("redis70", "master"), SlowlogRecord()))
    for name in (
        "redis_slowlog_entries_total",
        "redis_slowlog_entries_missed_total",
        "redis_slowlog_length",
    ):
        assert name not in exp.types


def test_empty_slowlog_reports_zero_last_id_and_duration() -> None:
    record = SlowlogRecord(length=0, newest=None, last_id=-1, gap_known=False, run_id="r")
    exp = exposition(with_records(snapshot("redis70", "master"), record))
    assert exp.value("redis_slowlog_length") == 0.0
    assert exp.value("redis_slowlog_last_id") == 0.0
    assert exp.value("redis_last_slow_execution_duration_seconds") == 0.0
    assert exp.value("redis_slowlog_entries_missed_total") == 0.0
    assert exp.values("redis_slowlog_entries_total") == []


def test_slowlog_missed_counter_is_exported() -> None:
    record = SlowlogRecord(
        length=5,
        newest=SlowlogEntry(9, 1, 250_000, "get"),
        last_id=9,
        gap_known=True,
        run_id="r",
        entries={"get": 2},
        seconds={"get": 0.5},
        missed=3,
    )
    exp = exposition(with_records(snapshot("redis70", "master"), record))
    assert exp.value("redis_slowlog_entries_missed_total") == 3.0
    assert exp.value("redis_slowlog_duration_seconds_total", cmd="get") == 0.5
    assert exp.value("redis_last_slow_execution_duration_seconds") == 0.25


@pytest.mark.parametrize("flavor", FLAVORS)
def test_latency_latest_becomes_spike_time_and_duration(flavor: str) -> None:
    (event,) = load_json(f"latency_{flavor}.json")
    exp = captured_exposition(flavor, "master")
    assert exp.value("redis_latency_spike_last", event_name=event[0]) == float(event[1])
    assert exp.value("redis_latency_spike_duration_seconds", event_name=event[0]) == event[2] / 1e3


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_views_give_quorum_settings_and_healthy_peers(flavor: str) -> None:
    view = sentinel_view(flavor)
    exp = captured_exposition(flavor, "sentinel")
    labels = {"master_name": GROUP, "master_address": view.master_address}
    assert (
        exp.value(
            "redis_sentinel_master_ckquorum_status",
            master_name=GROUP,
            message=view.ckquorum_message,
        )
        == 1.0
    )
    # The peer Sentinel plus this one.
    assert exp.value("redis_sentinel_master_ok_sentinels", **labels) == 1 + len(view.sentinels)
    assert exp.value("redis_sentinel_master_ok_slaves", **labels) == len(view.replicas)
    for key, metric in (
        ("quorum", "redis_sentinel_master_setting_ckquorum"),
        ("failover-timeout", "redis_sentinel_master_setting_failover_timeout"),
        ("parallel-syncs", "redis_sentinel_master_setting_parallel_syncs"),
        ("down-after-milliseconds", "redis_sentinel_master_setting_down_after_milliseconds"),
        ("config-epoch", "redis_sentinel_master_config_epoch"),
    ):
        assert exp.value(metric, **labels) == float(view.master[key]), key
    assert exp.value("redis_sentinel_master_last_ok_ping_reply_seconds", **labels) == (
        float(view.master["last-ok-ping-reply"]) / 1e3
    )


@pytest.mark.parametrize("flavor", FLAVORS)
def test_down_peers_and_replicas_are_not_counted_ok(flavor: str) -> None:
    view = sentinel_view(flavor)
    down_view = type(view)(
        name=view.name,
        master=view.master,
        replicas=tuple({**r, "flags": "slave,s_down"} for r in view.replicas),
        sentinels=tuple({**s, "flags": "sentinel,disconnected"} for s in view.sentinels),
        ckquorum_ok=False,
        ckquorum_message="NOQUORUM 1 usable Sentinels",
    )
    exp = exposition(with_records(snapshot(flavor, "sentinel"), SentinelRecord("", (down_view,))))
    assert exp.value("redis_sentinel_master_ok_sentinels") == 1.0
    assert exp.value("redis_sentinel_master_ok_slaves") == 0.0
    assert exp.value("redis_sentinel_master_ckquorum_status") == 0.0


def test_sentinel_instance_info_names_every_group_it_monitors() -> None:
    exp = exposition(snapshot("redis70", "sentinel", groups=("alpha", "beta")))
    assert exp.value("redis_instance_info", master_name="alpha,beta") == 1.0
