"""INFO: every section we export, in one call, parsed once into a typed view (role, run_id,
replicas with offsets and lag, master link, version, kind) beside the raw fields, and rendered
with redis_exporter's names and unit conversions (`info_names.py`).

redis_memory_used_bytes{instance="10.0.0.1:6379"} 2415520
redis_commands_total{cmd="config|get",instance="10.0.0.1:6379"} 2
redis_connected_slave_lag_bytes{instance="10.0.0.1:6379",slave_ip="10.0.0.2",slave_port="6379"} 0
redis_db_keys{db="db0",instance="10.0.0.1:6379"} 3001
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis_ha_exporter.metrics.model import NAMESPACE, FamilyBuilder, MetricDef, declared
from redis_ha_exporter.replies import decode, parse_kv_list, to_int, to_number, version_tuple
from redis_ha_exporter.snapshot import InfoSections, NodeKind, NodeSnapshot
from redis_ha_exporter.sources import info_names as n
from redis_ha_exporter.sources.base import ANY_KIND, Command, NodeView, Reply, Source
from redis_ha_exporter.sources.config import ConfigRecord

# Sections a data node is asked for in one INFO call (Redis >= 7 accepts several).
DATA_SECTIONS = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "latencystats",
    "keyspace",
    "cluster",
)
# Rendered by the families that own them, not field by field.
_SPECIAL_SECTIONS = {"keyspace", "commandstats", "errorstats", "latencystats", "sentinel"}
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
DEFAULT_DATABASES = 16


@dataclass(frozen=True, slots=True)
class ReplicaLink:
    """One `slaveN:` line of a master: a connected replica as the master sees it."""

    ip: str
    port: str
    state: str
    offset: int | None
    lag: int | None  # seconds since its last ack
    lag_bytes: int | None  # master_repl_offset minus its offset

    @property
    def address(self) -> str:
        """As our instance names spell it (IPv6 hosts bracketed)."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class MasterLink:
    """A replica's link to its master, from its own INFO."""

    host: str
    port: str
    status: str  # master_link_status: "up", "down"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.host and self.port else ""


@dataclass(frozen=True, slots=True)
class InfoRecord:
    """INFO as `section -> field -> raw value`, and the typed facts the rest of the exporter
    reads (status page, discovery, poll): nobody downstream parses INFO text again."""

    sections: InfoSections
    kind: NodeKind = "data"
    role: str = ""  # master, slave; "" for a Sentinel
    run_id: str = ""
    version: tuple[int, ...] = ()
    replicas: tuple[ReplicaLink, ...] = ()
    master: MasterLink | None = None

    @classmethod
    def of(cls, sections: InfoSections) -> InfoRecord:
        """The record of parsed sections, its typed view derived once."""
        flat: dict[str, str] = {}
        for fields in sections.values():
            flat.update(fields)
        mode = flat.get("redis_mode") or flat.get("server_mode", "")  # Valkey 8: server_mode
        kind: NodeKind = "sentinel" if mode == "sentinel" or "sentinel" in sections else "data"
        role = flat.get("role", "") if kind == "data" else ""
        master = None
        if role == "slave":
            master = MasterLink(
                flat.get("master_host", ""),
                flat.get("master_port", ""),
                flat.get("master_link_status", ""),
            )
        return cls(
            sections,
            kind=kind,
            role=role,
            run_id=flat.get("run_id", ""),
            version=version_tuple(flat.get("redis_version", "")),
            replicas=_replicas(sections.get("replication", {})),
            master=master,
        )

    def field(self, name: str, default: str = "") -> str:
        """A field from whichever section holds it."""
        for fields in self.sections.values():
            if name in fields:
                return fields[name]
        return default


def _replicas(replication: Mapping[str, str]) -> tuple[ReplicaLink, ...]:
    master_offset = to_int(replication.get("master_repl_offset"))
    out = []
    for key, value in replication.items():
        if not (key.startswith("slave") and key[5:].isdigit()):
            continue
        line = parse_kv_list(value)
        offset = to_int(line.get("offset"))
        lag_bytes = None
        if master_offset is not None and offset is not None:
            lag_bytes = max(master_offset - offset, 0)
        out.append(
            ReplicaLink(
                line.get("ip", ""),
                line.get("port", ""),
                line.get("state", ""),
                offset,
                to_int(line.get("lag")),
                lag_bytes,
            )
        )
    return tuple(out)


def parse_info(text: str) -> dict[str, dict[str, str]]:
    """`# Section` headers and `key:value` lines; anything else is ignored."""
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line[1:].strip().lower(), {})
            continue
        key, sep, value = line.partition(":")
        if sep and key:
            # Interned: every node and poll has the same few hundred names, and a thousand
            # nodes would otherwise hold a copy of each.
            current[sys.intern(key)] = value
    if not sections[""]:
        del sections[""]
    return sections


def commands(node: NodeView, prev: InfoRecord | None) -> Sequence[Command]:
    if node.kind == "sentinel":
        return [("INFO",)]
    # Before 7.0 INFO takes one section; `ALL` has everything but module sections.
    return [("INFO", *DATA_SECTIONS) if node.version >= (7,) else ("INFO", "ALL")]


def parse(node: NodeView, prev: InfoRecord | None, replies: Sequence[Reply]) -> InfoRecord:
    sections = parse_info(decode(replies[0]))
    sentinel = sections.get("sentinel")
    if sentinel is not None and node.options.sentinel_masters:
        # --sentinel-master: the groups we do not follow are not reported at all.
        sections["sentinel"] = {
            key: value
            for key, value in sentinel.items()
            if not key.startswith("master")
            or not key[6:].isdigit()
            or node.options.follows(parse_kv_list(value).get("name", ""))
        }
    return InfoRecord.of(sections)


def _defn_for(field: str) -> MetricDef | None:
    defn = n.MAPPED.get(field)
    if defn is None and field.startswith("cluster_"):
        name = f"{NAMESPACE}_{_SANITIZE.sub('_', field)}"
        defn = MetricDef(name, "gauge", f"INFO field {field}.")
    return defn


def families(snap: NodeSnapshot, record: InfoRecord, b: FamilyBuilder) -> None:
    """Every INFO-derived family of a data node or Sentinel; a Sentinel's own section is the
    Sentinel source's."""
    for section, fields in record.sections.items():
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
    uptime = to_number(record.field("uptime_in_seconds"))
    if uptime is not None:
        # Uptime is as of the poll, so the start time stays the same between polls.
        b.add(n.START_TIME, round((snap.last_success_at or snap.polled_at) - uptime))
    if snap.up:
        # Role and version describe the node as it is now: a node that stopped answering
        # must not go on claiming to be the master.
        _instance_info(b, record, ",".join(snap.groups))
    _replication(b, record)
    sections = record.sections
    if snap.kind == "data":
        _keyspace(b, sections.get("keyspace", {}), _databases(snap))
    else:
        _keyspace(b, sections.get("keyspace", {}), 0)
    _commandstats(b, sections.get("commandstats", {}), sections.get("latencystats", {}))
    for key, stat in sections.get("errorstats", {}).items():
        count = to_number(parse_kv_list(stat).get("count", ""))
        if key.startswith("errorstat_") and count is not None:
            b.add(n.ERRORS, count, err=key.removeprefix("errorstat_"))


def _databases(snap: NodeSnapshot) -> int:
    """How many dbN to zero-fill: CONFIG databases when the config source read it."""
    config = snap.get(ConfigRecord)
    value = to_number(config.values.get("databases", "")) if config is not None else None
    # Zero-fill is bounded so a hostile or odd reply cannot explode cardinality.
    return int(value) if value is not None and 0 < value <= 1024 else DEFAULT_DATABASES


def _instance_info(b: FamilyBuilder, record: InfoRecord, master_name: str) -> None:
    field = record.field
    # Valkey 8 renamed redis_mode to server_mode; the label keeps redis_exporter's name.
    mode = field("redis_mode") or field("server_mode")
    sentinel = mode == "sentinel"
    labels = {
        "role": "" if sentinel else field("role"),
        "redis_version": field("redis_version"),
        "redis_build_id": field("redis_build_id"),
        "redis_mode": mode,
        "os": field("os"),
        "maxmemory_policy": "" if sentinel else field("maxmemory_policy"),
        "tcp_port": field("tcp_port"),
        "run_id": field("run_id"),
        "process_id": field("process_id"),
        "master_replid": field("master_replid"),
        "master_name": master_name,
    }
    if field("valkey_version", "\0") != "\0":
        labels["valkey_version"] = field("valkey_version")
        labels["valkey_release_stage"] = field("valkey_release_stage")
    b.add(n.INSTANCE_INFO, 1, **labels)


def _replication(b: FamilyBuilder, record: InfoRecord) -> None:
    link = record.master
    if link is not None:
        master = {"master_host": link.host, "master_port": link.port}
        b.add(n.SLAVE_INFO, 1, **master, read_only=record.field("slave_read_only"))
        b.add(n.MASTER_LINK_UP, 1 if link.status == "up" else 0, **master)
        for field, defn in (
            ("master_last_io_seconds_ago", n.MASTER_LAST_IO),
            ("master_sync_in_progress", n.MASTER_SYNC),
            ("slave_repl_offset", n.SLAVE_REPL_OFFSET),
        ):
            number = to_number(record.field(field))
            if number is not None:
                b.add(defn, number, **master)
        # Redis only reports the field while the link is down.
        down = (
            to_number(record.field("master_link_down_since_seconds")) if link.status != "up" else 0
        )
        if down is not None:
            b.add(n.MASTER_LINK_DOWN_SINCE, down, **master)
    for replica in record.replicas:
        ip, port, state = replica.ip, replica.port, replica.state
        if replica.offset is not None:
            b.add(n.SLAVE_OFFSET, replica.offset, slave_ip=ip, slave_port=port, slave_state=state)
            if replica.lag_bytes is not None:
                b.add(n.SLAVE_LAG_BYTES, replica.lag_bytes, slave_ip=ip, slave_port=port)
        if replica.lag is not None:
            b.add(n.SLAVE_LAG, replica.lag, slave_ip=ip, slave_port=port, slave_state=state)


def _keyspace(b: FamilyBuilder, keyspace: Mapping[str, str], databases: int) -> None:
    seen: set[str] = set()
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
    for i in range(databases):
        db = f"db{i}"
        if db not in seen:
            b.add(n.DB_KEYS, 0, db=db)
            b.add(n.DB_KEYS_EXPIRING, 0, db=db)


def _commandstats(
    b: FamilyBuilder, commandstats: Mapping[str, str], latency: Mapping[str, str]
) -> None:
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


SOURCE = Source(
    "info",
    InfoRecord,
    ANY_KIND,
    commands,
    parse,
    families,
    required=True,
    metrics=declared(vars(n)),
    acl=("+info",),
)
