"""redis_ha_exporter.sources.info: INFO fields -> redis_exporter's names, types and units.

Expected values are computed here from the raw captured INFO text, never copied from it.
"""

from __future__ import annotations

import pytest

from redis_ha_exporter.replies import parse_kv_list
from redis_ha_exporter.sources.base import NodeView, PollOptions
from redis_ha_exporter.sources.config import ConfigRecord
from redis_ha_exporter.sources.info import EMPTY_DATABASES, InfoRecord, parse, parse_info
from redis_ha_exporter.sources.info_names import INFO_COUNTERS, INFO_GAUGES
from tests.unit.captured import (
    FLAVORS,
    GROUP,
    NOW,
    Exposition,
    captured_exposition,
    config_values,
    exposition,
    info_text,
    raw_fields,
    snapshot,
    with_records,
)


def captured(flavor: str, role: str) -> tuple[Exposition, dict[str, str]]:
    """The rendered captured node and its raw INFO fields."""
    return captured_exposition(flavor, role), raw_fields(info_text(flavor, role))


def edited(flavor: str, role: str, old: str, new: str) -> Exposition:
    """The captured node with one piece of its INFO text replaced (rendered from a template
    of the edited reply, as the renderer would)."""
    text = info_text(flavor, role)
    assert old in text
    text = text.replace(old, new)
    return exposition(snapshot(flavor, role, records={0: InfoRecord.of(parse_info(text), text)}))


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize(
    ("field", "metric", "mtype"),
    [
        ("used_memory", "redis_memory_used_bytes", "gauge"),
        ("used_memory_rss", "redis_memory_used_rss_bytes", "gauge"),
        ("maxmemory", "redis_memory_max_bytes", "gauge"),
        ("connected_clients", "redis_connected_clients", "gauge"),
        ("uptime_in_seconds", "redis_uptime_in_seconds", "gauge"),
        ("used_cpu_sys", "redis_cpu_sys_seconds_total", "counter"),
        ("used_cpu_user", "redis_cpu_user_seconds_total", "counter"),
        ("total_commands_processed", "redis_commands_processed_total", "counter"),
        ("total_net_input_bytes", "redis_net_input_bytes_total", "counter"),
        ("keyspace_hits", "redis_keyspace_hits_total", "counter"),
        ("aof_current_size", "redis_aof_current_size_bytes", "gauge"),
        ("rdb_last_save_time", "redis_rdb_last_save_timestamp_seconds", "gauge"),
        ("repl_backlog_size", "redis_replication_backlog_bytes", "gauge"),
        ("master_repl_offset", "redis_master_repl_offset", "gauge"),
        ("cluster_enabled", "redis_cluster_enabled", "gauge"),
        ("cluster_connections", "redis_cluster_connections", "gauge"),
    ],
)
def test_info_field_maps_to_its_redis_exporter_metric(
    flavor: str, field: str, metric: str, mtype: str
) -> None:
    exp, raw = captured(flavor, "master")
    instance = snapshot(flavor, "master").instance
    assert exp.value(metric, instance=instance) == float(raw[field])
    assert exp.types[metric] == mtype


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("role", ["master", "replica", "sentinel"])
def test_every_numeric_mapped_field_is_exported_once(flavor: str, role: str) -> None:
    exp, raw = captured(flavor, role)
    checked = 0
    for field, suffix in {**INFO_GAUGES, **INFO_COUNTERS}.items():
        if field not in raw:
            continue
        expected = {"ok": 1.0, "err": 0.0}.get(raw[field])
        assert exp.values(f"redis_{suffix}") == [
            float(raw[field]) if expected is None else expected
        ], field
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("flavor", FLAVORS)
def test_status_words_become_one_and_zero(flavor: str) -> None:
    exp = edited(flavor, "master", "rdb_last_bgsave_status:ok", "rdb_last_bgsave_status:err")
    assert exp.values("redis_rdb_last_bgsave_status") == [0.0]
    assert exp.values("redis_aof_last_write_status") == [1.0]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_text_only_fields_are_not_exported(flavor: str) -> None:
    exp, _ = captured(flavor, "master")
    for name in ("redis_used_memory_human", "redis_maxmemory_policy", "redis_mem_allocator"):
        assert name not in exp.types


@pytest.mark.parametrize("flavor", FLAVORS)
def test_latest_fork_usec_becomes_seconds(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    assert exp.values("redis_latest_fork_seconds") == [float(raw["latest_fork_usec"]) / 1e6]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_start_time_is_poll_time_minus_uptime(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    assert exp.values("redis_start_time_seconds") == [round(NOW - float(raw["uptime_in_seconds"]))]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_total_error_replies_is_a_counter_exposed_without_total_suffix(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    instance = snapshot(flavor, "master").instance
    assert exp.types["redis_total_error_replies"] == "counter"
    assert f'\nredis_total_error_replies{{instance="{instance}"}} ' in exp.text
    assert "redis_total_error_replies_total" not in exp.text
    assert exp.value("redis_total_error_replies") == float(raw["total_error_replies"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_keyspace_lines_give_keys_expiring_and_avg_ttl_in_seconds(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    for db in ("db0", "db1"):
        stats = {k: float(v) for k, v in parse_kv_list(raw[db]).items()}
        assert exp.value("redis_db_keys", db=db) == stats["keys"]
        assert exp.value("redis_db_keys_expiring", db=db) == stats["expires"]
        assert exp.value("redis_db_avg_ttl_seconds", db=db) == pytest.approx(
            stats["avg_ttl"] / 1000
        )


@pytest.mark.parametrize("flavor", FLAVORS)
def test_databases_without_keys_are_zero_filled_up_to_config_databases(flavor: str) -> None:
    exp, _ = captured(flavor, "master")
    databases = int(config_values(flavor)["databases"])
    empty = {f"db{i}" for i in range(2, databases)}
    for db in empty:
        assert exp.value("redis_db_keys", db=db) == 0.0
        assert exp.value("redis_db_keys_expiring", db=db) == 0.0
        assert exp.value("redis_db_avg_ttl_seconds", db=db) is None
    assert len(exp.values("redis_db_keys")) == databases


def test_zero_fill_follows_a_smaller_databases_setting() -> None:
    snap = snapshot("redis70", "master")
    config = snap.get(ConfigRecord)
    assert config is not None
    exp = exposition(with_records(snap, ConfigRecord({**config.values, "databases": "4"})))
    assert sorted(s.labels["db"] for s in exp.series if s.name == "redis_db_keys") == [
        "db0",
        "db1",
        "db2",
        "db3",
    ]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_commandstats_give_calls_and_seconds_per_command(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    cmdstats = {
        k.removeprefix("cmdstat_"): {f: float(v) for f, v in parse_kv_list(line).items()}
        for k, line in raw.items()
        if k.startswith("cmdstat_")
    }
    assert "config|set" in cmdstats
    for cmd, stats in cmdstats.items():
        assert exp.value("redis_commands_total", cmd=cmd) == stats["calls"]
        assert exp.value("redis_commands_duration_seconds_total", cmd=cmd) == pytest.approx(
            stats["usec"] / 1e6
        )
        assert exp.value("redis_commands_rejected_calls_total", cmd=cmd) == stats["rejected_calls"]
        assert exp.value("redis_commands_failed_calls_total", cmd=cmd) == stats["failed_calls"]
    assert exp.types["redis_commands_duration_seconds_total"] == "counter"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_latencystats_become_a_summary_with_redis_exporter_quantile_labels(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    assert exp.types["redis_latency_percentiles_usec"] == "summary"
    latency = {
        k.removeprefix("latency_percentiles_usec_"): parse_kv_list(v)
        for k, v in raw.items()
        if k.startswith("latency_percentiles_usec_")
    }
    assert latency
    for cmd, percentiles in latency.items():
        assert set(percentiles) == {"p50", "p99", "p99.9"}
        for quantile in ("50", "99", "99.9"):
            assert exp.value("redis_latency_percentiles_usec", cmd=cmd, quantile=quantile) == float(
                percentiles[f"p{quantile}"]
            )
        stats = parse_kv_list(raw[f"cmdstat_{cmd}"])
        assert exp.value("redis_latency_percentiles_usec_sum", cmd=cmd) == float(stats["usec"])
        assert exp.value("redis_latency_percentiles_usec_count", cmd=cmd) == float(stats["calls"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_errorstats_give_errors_total_per_error_prefix(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    errors = {k.removeprefix("errorstat_"): v for k, v in raw.items() if k.startswith("errorstat_")}
    # The capture provoked WRONGTYPE and ERR; the replica's handshake PING drew NOAUTH.
    assert {"ERR", "WRONGTYPE", "NOAUTH"} <= set(errors)
    for err, stat in errors.items():
        assert exp.value("redis_errors_total", err=err) == float(parse_kv_list(stat)["count"])
    assert sum(exp.values("redis_errors_total")) == float(raw["total_error_replies"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_slave_lines_give_offset_lag_and_lag_bytes(flavor: str) -> None:
    exp, raw = captured(flavor, "master")
    slave = parse_kv_list(raw["slave0"])
    where = {"slave_ip": slave["ip"], "slave_port": slave["port"]}
    assert exp.value("redis_connected_slave_offset_bytes", **where, slave_state="online") == float(
        slave["offset"]
    )
    assert exp.value("redis_connected_slave_lag_seconds", **where) == float(slave["lag"])
    assert exp.value("redis_connected_slave_lag_bytes", **where) == float(
        raw["master_repl_offset"]
    ) - float(slave["offset"])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_lag_bytes_is_master_offset_minus_replica_offset(flavor: str) -> None:
    raw = raw_fields(info_text(flavor, "master"))
    ahead = int(raw["master_repl_offset"]) + 4096
    exp = edited(
        flavor,
        "master",
        f"master_repl_offset:{raw['master_repl_offset']}",
        f"master_repl_offset:{ahead}",
    )
    offset = float(parse_kv_list(raw["slave0"])["offset"])
    assert exp.values("redis_connected_slave_lag_bytes") == [ahead - offset]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_replica_exposes_link_state_and_slave_info(flavor: str) -> None:
    exp, raw = captured(flavor, "replica")
    master = {"master_host": raw["master_host"], "master_port": raw["master_port"]}
    assert raw["master_link_status"] == "up"
    assert exp.value("redis_master_link_up", **master) == 1.0
    assert exp.value("redis_slave_info", **master, read_only=raw["slave_read_only"]) == 1.0
    # Neither server reports master_link_down_since_seconds while the link is up.
    assert "master_link_down_since_seconds" not in raw
    assert exp.value("redis_master_link_down_since_seconds", **master) == 0.0
    assert exp.value("redis_master_last_io_seconds_ago", **master) == float(
        raw["master_last_io_seconds_ago"]
    )
    assert exp.value("redis_slave_repl_offset", **master) == float(raw["slave_repl_offset"])
    assert exp.value("redis_master_sync_in_progress", **master) == 0.0
    assert exp.values("redis_connected_slave_lag_bytes") == []


@pytest.mark.parametrize("flavor", FLAVORS)
def test_replica_with_link_down_reports_seconds_since_and_link_up_zero(flavor: str) -> None:
    exp = edited(
        flavor,
        "replica",
        "master_link_status:up",
        "master_link_status:down\r\nmaster_link_down_since_seconds:42",
    )
    assert exp.values("redis_master_link_up") == [0.0]
    assert exp.values("redis_master_link_down_since_seconds") == [42.0]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_master_has_no_replica_only_series(flavor: str) -> None:
    exp, _ = captured(flavor, "master")
    for name in (
        "redis_master_link_up",
        "redis_slave_info",
        "redis_master_link_down_since_seconds",
    ):
        assert name not in exp.types


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("role", ["master", "replica"])
def test_instance_info_describes_the_data_node(flavor: str, role: str) -> None:
    exp, raw = captured(flavor, role)
    assert raw["role"] == ("master" if role == "master" else "slave")
    labels = {
        key: raw[key]
        for key in ("role", "redis_version", "maxmemory_policy", "run_id", "tcp_port", "process_id")
    }
    assert exp.value("redis_instance_info", **labels, master_name=GROUP) == 1.0


def test_valkey_instance_info_carries_valkey_version_labels() -> None:
    exp, raw = captured("valkey81", "master")
    assert raw["redis_version"] == "7.2.4"  # Valkey answers with its Redis compatibility level
    labels = {key: raw[key] for key in ("valkey_version", "valkey_release_stage")}
    assert exp.value("redis_instance_info", **labels) == 1.0


def test_redis_instance_info_has_no_valkey_labels() -> None:
    exp, _ = captured("redis70", "master")
    assert "valkey_version" not in exp.text


@pytest.mark.parametrize("role", ["master", "sentinel"])
def test_redis_instance_info_reports_redis_mode(role: str) -> None:
    exp, raw = captured("redis70", role)
    assert exp.value("redis_instance_info", redis_mode=raw["redis_mode"]) == 1.0


@pytest.mark.parametrize(("role", "mode"), [("master", "standalone"), ("sentinel", "sentinel")])
def test_valkey_instance_info_reports_server_mode_as_redis_mode(role: str, mode: str) -> None:
    exp, raw = captured("valkey81", role)
    # Valkey 8 renamed the INFO field; the label keeps redis_exporter's name.
    assert raw["server_mode"] == mode and "redis_mode" not in raw
    assert exp.value("redis_instance_info", redis_mode=mode) == 1.0


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_info_gives_master_status_and_counts(flavor: str) -> None:
    exp, raw = captured(flavor, "sentinel")
    master = parse_kv_list(raw["master0"])
    labels = {"master_name": master["name"], "master_address": master["address"]}
    assert exp.value("redis_sentinel_master_status", **labels, master_status="ok") == 1.0
    assert exp.value("redis_sentinel_master_slaves", **labels) == float(master["slaves"])
    assert exp.value("redis_sentinel_master_sentinels", **labels) == float(master["sentinels"])
    for field in (
        "sentinel_masters",
        "sentinel_tilt",
        "sentinel_tilt_since_seconds",
        "sentinel_running_scripts",
        "sentinel_scripts_queue_length",
    ):
        assert exp.value(f"redis_{field}") == float(raw[field])


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_master_not_ok_has_status_zero_and_keeps_the_status_label(flavor: str) -> None:
    exp = edited(flavor, "sentinel", "status=ok", "status=odown")
    assert exp.values("redis_sentinel_master_status", master_status="odown") == [0.0]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_sentinel_has_no_keyspace_or_replication_series(flavor: str) -> None:
    exp, _ = captured(flavor, "sentinel")
    for name in ("redis_db_keys", "redis_db_keys_expiring", "redis_connected_slave_lag_bytes"):
        assert name not in exp.types
    assert exp.value("redis_instance_info", role="", maxmemory_policy="") == 1.0


def test_valkey_9_keys_with_volatile_items_give_keys_with_expiring_items() -> None:
    exp, raw = captured("valkey91", "master")
    for db in ("db0", "db1"):
        volatile = float(parse_kv_list(raw[db])["keys_with_volatile_items"])
        assert exp.value("redis_db_keys_with_expiring_items", db=db) == volatile
    assert exp.types["redis_db_keys_with_expiring_items"] == "gauge"


def test_redis_subexpiry_gives_keys_with_expiring_items() -> None:
    # Redis 7.4+ writes `subexpiry` (keys with hash-field TTLs) on each keyspace line; no
    # Redis 7.4 binary runs here, so the captured 7.0 line is edited into 7.4's documented shape.
    _, raw = captured("redis70", "master")
    line = raw["db0"]
    exp = edited("redis70", "master", f"db0:{line}\r\n", f"db0:{line},subexpiry=7\r\n")
    assert exp.value("redis_db_keys_with_expiring_items", db="db0") == 7


@pytest.mark.parametrize("flavor", ["redis70", "valkey81"])
def test_servers_without_the_field_have_no_keys_with_expiring_items(flavor: str) -> None:
    exp, _ = captured(flavor, "master")
    assert exp.values("redis_db_keys_with_expiring_items") == []


def test_valkey_9_1_active_time_fields_are_counters_in_seconds() -> None:
    exp, raw = captured("valkey91", "master")
    assert exp.value("redis_active_time_main_thread_seconds_total") == pytest.approx(
        float(raw["used_active_time_main_thread"])
    )
    assert exp.types["redis_active_time_main_thread_seconds_total"] == "counter"
    # One field per I/O thread when io-threads > 1 (`used_active_time_io_thread_1:0.5`).
    main = f"used_active_time_main_thread:{raw['used_active_time_main_thread']}\r\n"
    extra = "used_active_time_io_thread_1:0.500000\r\nused_active_time_io_thread_2:1.25\r\n"
    exp = edited("valkey91", "master", main, main + extra)
    assert exp.value("redis_active_time_io_thread_seconds_total", thread="1") == 0.5
    assert exp.value("redis_active_time_io_thread_seconds_total", thread="2") == 1.25
    assert exp.types["redis_active_time_io_thread_seconds_total"] == "counter"


@pytest.mark.parametrize(
    ("role", "field", "metric"),
    [
        ("master", "mem_replicas_repl_buffer", "redis_mem_replicas_repl_buffer_bytes"),
        ("master", "replicas_waiting_psync", "redis_replicas_waiting_psync"),
        ("replica", "replicas_repl_buffer_size", "redis_replicas_repl_buffer_size_bytes"),
        ("replica", "replicas_repl_buffer_peak", "redis_replicas_repl_buffer_peak_bytes"),
    ],
)
def test_valkey_replication_buffer_fields_are_gauges(role: str, field: str, metric: str) -> None:
    exp, raw = captured("valkey91", role)
    assert exp.value(metric) == float(raw[field])
    assert exp.types[metric] == "gauge"


def test_valkey_sentinel_total_tilt_is_a_counter() -> None:
    exp, raw = captured("valkey91", "sentinel")
    assert exp.value("redis_sentinel_total_tilt") == float(raw["sentinel_total_tilt"])
    assert exp.types["redis_sentinel_total_tilt"] == "counter"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_without_empty_databases_only_the_keyspace_databases_report_keys(flavor: str) -> None:
    options = PollOptions({EMPTY_DATABASES.name: False})
    node = NodeView("n", "data", (7, 0, 15), options=options)
    text = info_text(flavor, "master")
    record = parse(node, None, [text.encode()])
    exp = exposition(with_records(snapshot(flavor, "master"), record))
    keyspace = {k for k in raw_fields(text) if k.startswith("db")}
    assert keyspace
    assert {s.labels["db"] for s in exp.series if s.name == "redis_db_keys"} == keyspace
    assert {s.labels["db"] for s in exp.series if s.name == "redis_db_keys_expiring"} == keyspace
