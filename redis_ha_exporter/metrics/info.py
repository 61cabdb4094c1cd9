"""INFO sections -> metric families, with redis_exporter's names and unit conversions.

redis_memory_used_bytes{instance="10.0.0.1:6379"} 2.41552e+06
redis_commands_total{cmd="config|get",instance="10.0.0.1:6379"} 2
redis_connected_slave_lag_bytes{instance="10.0.0.1:6379",slave_ip="10.0.0.2",slave_port="6379"} 0
redis_db_keys{db="db0",instance="10.0.0.1:6379"} 3001
"""

from __future__ import annotations

import re

from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.replies import parse_kv_list, to_number
from redis_ha_exporter.snapshot import InfoSections

_SPECIAL_SECTIONS = {"keyspace", "commandstats", "errorstats", "latencystats", "sentinel"}
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
_MAPPED: dict[str, n.MetricDef] = {
    **{
        f: n.MetricDef(f"{n.NAMESPACE}_{m}", "gauge", f"INFO field {f}.")
        for f, m in n.INFO_GAUGES.items()
    },
    **{
        f: n.MetricDef(f"{n.NAMESPACE}_{m}", "counter", f"INFO field {f}.")
        for f, m in n.INFO_COUNTERS.items()
    },
}
_SLAVE_LINE = re.compile(r"^slave\d+$")
_MASTER_LINE = re.compile(r"^master\d+$")


def _defn_for(field: str) -> n.MetricDef | None:
    defn = _MAPPED.get(field)
    if defn is None and field.startswith("cluster_"):
        name = f"{n.NAMESPACE}_{_SANITIZE.sub('_', field)}"
        defn = n.MetricDef(name, "gauge", f"INFO field {field}.")
    return defn


def add_info(
    b: FamilyBuilder,
    info: InfoSections,
    *,
    now: float,
    with_instance_info: bool,
    master_name: str,
    databases: int | None,
) -> None:
    """All INFO-derived families. `databases` zero-fills missing dbN (None: no zero-fill)."""
    for section, fields in info.items():
        if section in _SPECIAL_SECTIONS:
            continue
        for field, raw in fields.items():
            if field == "latest_fork_usec":
                value = to_number(raw)
                if value is not None:
                    b.add(n.LATEST_FORK, value / 1e6)
                continue
            defn = _defn_for(field)
            if defn is None:
                continue
            number = to_number(raw)
            if number is not None:
                b.add(defn, number)
    flat = {k: v for fields in info.values() for k, v in fields.items()}
    uptime = to_number(flat.get("uptime_in_seconds", ""))
    if uptime is not None:
        b.add(n.START_TIME, round(now - uptime))
    if with_instance_info:
        _instance_info(b, flat, master_name)
    _replication(b, flat)
    _keyspace(b, info.get("keyspace", {}), databases)
    _commandstats(b, info.get("commandstats", {}), info.get("latencystats", {}))
    for key, stat in info.get("errorstats", {}).items():
        count = to_number(parse_kv_list(stat).get("count", ""))
        if key.startswith("errorstat_") and count is not None:
            b.add(n.ERRORS, count, err=key.removeprefix("errorstat_"))
    _sentinel_section(b, info.get("sentinel", {}))


def _instance_info(b: FamilyBuilder, flat: dict[str, str], master_name: str) -> None:
    # Valkey 8 renamed redis_mode to server_mode; the label keeps redis_exporter's name.
    mode = flat.get("redis_mode") or flat.get("server_mode", "")
    sentinel = mode == "sentinel"
    labels = {
        "role": "" if sentinel else flat.get("role", ""),
        "redis_version": flat.get("redis_version", ""),
        "redis_build_id": flat.get("redis_build_id", ""),
        "redis_mode": mode,
        "os": flat.get("os", ""),
        "maxmemory_policy": "" if sentinel else flat.get("maxmemory_policy", ""),
        "tcp_port": flat.get("tcp_port", ""),
        "run_id": flat.get("run_id", ""),
        "process_id": flat.get("process_id", ""),
        "master_replid": flat.get("master_replid", ""),
        "master_name": master_name,
    }
    if "valkey_version" in flat:
        labels["valkey_version"] = flat["valkey_version"]
        labels["valkey_release_stage"] = flat.get("valkey_release_stage", "")
    b.add(n.INSTANCE_INFO, 1, **labels)


def _replication(b: FamilyBuilder, flat: dict[str, str]) -> None:
    if flat.get("role") == "slave":
        master = {
            "master_host": flat.get("master_host", ""),
            "master_port": flat.get("master_port", ""),
        }
        b.add(n.SLAVE_INFO, 1, **master, read_only=flat.get("slave_read_only", ""))
        link = flat.get("master_link_status", "")
        b.add(n.MASTER_LINK_UP, 1 if link == "up" else 0, **master)
        for field, defn in (
            ("master_last_io_seconds_ago", n.MASTER_LAST_IO),
            ("master_sync_in_progress", n.MASTER_SYNC),
            ("slave_repl_offset", n.SLAVE_REPL_OFFSET),
        ):
            number = to_number(flat.get(field, ""))
            if number is not None:
                b.add(defn, number, **master)
        # Redis only reports the field while the link is down.
        down = to_number(flat.get("master_link_down_since_seconds", "")) if link != "up" else 0.0
        if down is not None:
            b.add(n.MASTER_LINK_DOWN_SINCE, down, **master)
    master_offset = to_number(flat.get("master_repl_offset", ""))
    for key, value in flat.items():
        if not _SLAVE_LINE.match(key):
            continue
        replica = parse_kv_list(value)
        ip, port = replica.get("ip", ""), replica.get("port", "")
        state = replica.get("state", "")
        offset = to_number(replica.get("offset", ""))
        lag = to_number(replica.get("lag", ""))
        if offset is not None:
            b.add(n.SLAVE_OFFSET, offset, slave_ip=ip, slave_port=port, slave_state=state)
            if master_offset is not None:
                b.add(
                    n.SLAVE_LAG_BYTES, max(master_offset - offset, 0), slave_ip=ip, slave_port=port
                )
        if lag is not None:
            b.add(n.SLAVE_LAG, lag, slave_ip=ip, slave_port=port, slave_state=state)


def _keyspace(b: FamilyBuilder, keyspace: dict[str, str] | object, databases: int | None) -> None:
    seen: set[str] = set()
    if isinstance(keyspace, dict):
        for db, value in keyspace.items():
            if not db.startswith("db"):
                continue
            stats = parse_kv_list(value)
            seen.add(db)
            for field, defn, scale in (
                ("keys", n.DB_KEYS, 1.0),
                ("expires", n.DB_KEYS_EXPIRING, 1.0),
                ("avg_ttl", n.DB_AVG_TTL, 1e-3),
                ("cached_keys", n.DB_KEYS_CACHED, 1.0),
            ):
                number = to_number(stats.get(field, ""))
                if number is not None:
                    b.add(defn, number * scale, db=db)
    for i in range(databases or 0):
        db = f"db{i}"
        if db not in seen:
            b.add(n.DB_KEYS, 0, db=db)
            b.add(n.DB_KEYS_EXPIRING, 0, db=db)


def _commandstats(b: FamilyBuilder, commandstats: dict[str, str] | object, latency: object) -> None:
    if not isinstance(commandstats, dict):
        return
    calls_usec: dict[str, tuple[float, float]] = {}
    for key, value in commandstats.items():
        if not key.startswith("cmdstat_"):
            continue
        cmd = key.removeprefix("cmdstat_").lower()
        stats = parse_kv_list(value)
        calls = to_number(stats.get("calls", ""))
        usec = to_number(stats.get("usec", ""))
        if calls is None or usec is None:
            continue
        calls_usec[cmd] = (calls, usec)
        b.add(n.COMMANDS, calls, cmd=cmd)
        b.add(n.COMMANDS_DURATION, usec / 1e6, cmd=cmd)
        for field, defn in (
            ("rejected_calls", n.COMMANDS_REJECTED),
            ("failed_calls", n.COMMANDS_FAILED),
        ):
            number = to_number(stats.get(field, ""))
            if number is not None:
                b.add(defn, number, cmd=cmd)
    if not isinstance(latency, dict):
        return
    for key, value in latency.items():
        if not key.startswith("latency_percentiles_usec_"):
            continue
        cmd = key.removeprefix("latency_percentiles_usec_").lower()
        for quantile, raw in parse_kv_list(value).items():
            number = to_number(raw)
            if quantile.startswith("p") and number is not None:
                b.add(n.LATENCY_PERCENTILES, number, cmd=cmd, quantile=quantile[1:])
        if cmd in calls_usec:
            calls, usec = calls_usec[cmd]
            b.add(n.LATENCY_PERCENTILES, usec, "_sum", cmd=cmd)
            b.add(n.LATENCY_PERCENTILES, calls, "_count", cmd=cmd)


def _sentinel_section(b: FamilyBuilder, section: dict[str, str] | object) -> None:
    if not isinstance(section, dict):
        return
    for key, value in section.items():
        defn = n.SENTINEL_INFO_GAUGES.get(key)
        if defn is not None:
            number = to_number(value)
            if number is not None:
                b.add(defn, number)
            continue
        if not _MASTER_LINE.match(key):
            continue
        master = parse_kv_list(value)
        labels = {
            "master_name": master.get("name", ""),
            "master_address": master.get("address", ""),
        }
        status = master.get("status", "")
        b.add(n.SENTINEL_MASTER_STATUS, 1 if status == "ok" else 0, **labels, master_status=status)
        for field, defn in (
            ("slaves", n.SENTINEL_MASTER_SLAVES),
            ("sentinels", n.SENTINEL_MASTER_SENTINELS),
        ):
            number = to_number(master.get(field, ""))
            if number is not None:
                b.add(defn, number, **labels)
