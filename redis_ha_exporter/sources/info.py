"""INFO: every section we export, in one call, parsed once into a typed view (role, run_id,
replicas with offsets and lag, master link, version, kind) kept beside the raw reply, and rendered
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
from dataclasses import dataclass, replace
from dataclasses import field as _default

from redis_ha_exporter.metrics.model import NAMESPACE, FamilyBuilder, MetricDef, declared
from redis_ha_exporter.replies import decode, parse_kv_list, to_int, to_number, version_tuple
from redis_ha_exporter.snapshot import InfoSections, NodeKind, NodeSnapshot
from redis_ha_exporter.sources import info_names as n
from redis_ha_exporter.sources.base import ANY_KIND, Command, NodeView, Reply, Setting, Source
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
_SPECIAL_SECTIONS = {
    "keyspace",
    "commandstats",
    "errorstats",
    "latencystats",
    "sentinel",
    "keysizes",
}
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
# A number as INFO spells it, which a sample may carry as it is (and a template fill in).
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
DEFAULT_DATABASES = 16
_IO_THREAD = "used_active_time_io_thread_"


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


# The fields the record keeps beside the raw reply: what the builders, the status page and
# discovery read. Everything else is read from the reply by the template, or by parsing it
# again when a reply changes shape.
KEPT_FIELDS = frozenset(
    {
        "uptime_in_seconds",
        "redis_mode",
        "server_mode",
        "role",
        "redis_version",
        "redis_build_id",
        "os",
        "maxmemory_policy",
        "tcp_port",
        "run_id",
        "process_id",
        "master_replid",
        "valkey_version",
        "valkey_release_stage",
        "used_memory",
        "maxmemory",
        "total_system_memory",
        "instantaneous_ops_per_sec",
        "connected_clients",
    }
)


@dataclass(frozen=True, slots=True)
class InfoRecord:
    """INFO as it was received, and the typed facts the rest of the exporter reads (status page,
    discovery, poll): nobody downstream parses INFO text again, and a node keeps its reply and
    a few fields rather than hundreds of parsed strings."""

    raw: str  # the reply as received, which the renderer fills INFO's template from
    fields: Mapping[str, str]  # KEPT_FIELDS the reply has
    kind: NodeKind = "data"
    role: str = ""  # master, slave; "" for a Sentinel
    run_id: str = ""
    version: tuple[int, ...] = ()  # redis_version
    valkey: tuple[int, ...] = ()  # valkey_version; () on Redis
    replicas: tuple[ReplicaLink, ...] = ()
    master: MasterLink | None = None
    keyspace: Mapping[str, int] = _default(default_factory=dict)  # dbN -> keys
    # A Sentinel's `sentinel` section, less the groups not followed (--sentinel-master).
    sentinel: Mapping[str, str] = _default(default_factory=dict)
    # Redis 8.8+: each command's slowlog entries and their total milliseconds, from its
    # cmdstat line; None when the server does not count them (INFO stats has no
    # slowlog_commands_count), and the slowlog source counts entries itself.
    slowlog_commands: Mapping[str, tuple[float, float]] | None = None
    # --include-metrics-for-empty-databases: databases without keys report 0 keys.
    zero_fill: bool = True
    # Redis 8 `INFO keysizes`: (db, distribution) -> ((bin, keys), ...), bins ascending.
    keysizes: Mapping[tuple[str, str], tuple[tuple[int, int], ...]] = _default(default_factory=dict)

    @classmethod
    def of(cls, sections: InfoSections, raw: str = "") -> InfoRecord:
        """The record of parsed sections and the text they came from (made from the sections
        when not given), its typed view derived once."""
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
            raw or unparse(sections),
            {k: flat[k] for k in KEPT_FIELDS & flat.keys()},
            kind=kind,
            role=role,
            run_id=flat.get("run_id", ""),
            version=version_tuple(flat.get("redis_version", "")),
            valkey=version_tuple(flat.get("valkey_version", "")),
            replicas=_replicas(sections.get("replication", {})),
            master=master,
            keyspace=_keyspace(sections.get("keyspace", {})),
            sentinel=dict(sections.get("sentinel", {})),
            slowlog_commands=_slowlog_commands(sections),
            keysizes=_keysizes(sections.get("keysizes", {})),
        )

    @property
    def databases(self) -> frozenset[str]:
        """The keyspace's dbN."""
        return frozenset(self.keyspace)

    def field(self, name: str, default: str = "") -> str:
        """One of KEPT_FIELDS."""
        return self.fields.get(name, default)

    def parsed(self) -> dict[str, dict[str, str]]:
        """The reply's sections, parsed again (a reply of a new shape, tests)."""
        return parse_info(self.raw)


def unparse(sections: InfoSections) -> str:
    """INFO text that parses to `sections`."""
    return "".join(
        f"# {name}\r\n" + "".join(f"{k}:{v}\r\n" for k, v in fields.items()) + "\r\n"
        for name, fields in sections.items()
    )


def _keyspace(keyspace: Mapping[str, str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for db, stats in keyspace.items():
        if db.startswith("db"):
            found[db] = to_int(parse_kv_list(stats).get("keys")) or 0
    return found


def _field(sections: InfoSections, name: str, default: str = "") -> str:
    for fields in sections.values():
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


def _slowlog_commands(sections: InfoSections) -> dict[str, tuple[float, float]] | None:
    if "slowlog_commands_count" not in sections.get("stats", {}):
        return None
    out = {}
    for key, value in sections.get("commandstats", {}).items():
        if key.startswith("cmdstat_") and "slowlog_count=" in value:
            stats = parse_kv_list(value)
            count, ms = (
                to_number(stats.get("slowlog_count", "")),
                to_number(stats.get("slowlog_time_ms_sum", "0")),
            )
            if count is not None and ms is not None:
                out[key.removeprefix("cmdstat_").lower()] = (count, ms)
    return out


_BIN_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_KEYSIZES = re.compile(r"(db[0-9]+)_distrib_([a-z]+_[a-z]+)")
_BIN = re.compile(r"([0-9]+)([KMGTP]?)")


def _keysizes(section: Mapping[str, str]) -> dict[tuple[str, str], tuple[tuple[int, int], ...]]:
    """`db0_distrib_strings_sizes:1=19,2=655,1K=3`: keys whose size (a string's bytes, a
    collection's items) lies in [bin, 2 * bin), bins powers of two spelled with K, M, ...
    (1024-based). A malformed bin drops its line, never the rest."""
    out = {}
    for key, value in section.items():
        match = _KEYSIZES.fullmatch(key)
        if match is None:
            continue
        bins: list[tuple[int, int]] = []
        for word, count in parse_kv_list(value).items():
            size, keys = _BIN.fullmatch(word), to_int(count)
            if size is None or keys is None:
                bins = []
                break
            bins.append((int(size.group(1)) * _BIN_SUFFIX[size.group(2)], keys))
        if bins:
            out[(match.group(1), match.group(2))] = tuple(sorted(bins))
    return out


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
    if node.redis >= (8,):
        return [("INFO", *DATA_SECTIONS, "keysizes")]  # Redis 8: not in ALL or the default
    return [("INFO", *DATA_SECTIONS) if node.version >= (7,) else ("INFO", "ALL")]


EMPTY_DATABASES = Setting(
    "include_metrics_for_empty_databases",
    bool,
    True,
    "--include-metrics-for-empty-databases",
    ("REDIS_EXPORTER_INCL_METRICS_FOR_EMPTY_DATABASES",),
    "report `redis_db_keys` and `redis_db_keys_expiring` as 0 for each database without "
    "keys, up to CONFIG databases (16 when unknown); false leaves them out",
    metavar="BOOL",
)


def parse(node: NodeView, prev: InfoRecord | None, replies: Sequence[Reply]) -> InfoRecord:
    text = decode(replies[0])
    sections = parse_info(text)
    record = InfoRecord.of(sections, text)
    if not EMPTY_DATABASES.of(node.options):
        record = replace(record, zero_fill=False)
    return record


def _defn_for(field: str) -> MetricDef | None:
    defn = n.MAPPED.get(field)
    if defn is None and field.startswith("cluster_"):
        name = f"{NAMESPACE}_{_SANITIZE.sub('_', field)}"
        defn = MetricDef(name, "gauge", f"INFO field {field}.")
    return defn


def _sample(raw: str, exponent: int = 0) -> float | str | None:
    """An INFO value as a sample value: a plain number as the reply spells it, its unit an
    exponent (`826e-6` seconds for 826 usec), so that a template can take the reply's numbers
    as they are; anything else as redis_exporter reads it (`ok` is 1), or None."""
    if NUMBER.fullmatch(raw):
        return f"{raw}e-{exponent}" if exponent else raw
    number = to_number(raw)
    return number / 10**exponent if number is not None and exponent else number


def templated(sections: InfoSections, b: FamilyBuilder) -> None:
    """The families INFO derives from its fields alone, each value one field as it reads:
    what a template of the reply stands in for (`info_template.py`). A field's value is read
    only when it is exported, so the template can tell which ones it does not depend on."""
    for section, fields in sections.items():
        if section in _SPECIAL_SECTIONS:
            continue
        for field in fields:
            if field == "latest_fork_usec":
                defn: MetricDef | None = n.LATEST_FORK
                value = _sample(fields[field], 6)
            elif field.startswith(_IO_THREAD) and field[len(_IO_THREAD) :].isdigit():
                value = _sample(fields[field])
                if value is not None:
                    b.add(n.ACTIVE_TIME_IO_THREAD, value, thread=field[len(_IO_THREAD) :])
                continue
            else:
                defn = _defn_for(field)
                value = _sample(fields[field]) if defn is not None else None
            if defn is not None and value is not None:
                b.add(defn, value)
    _master_link(b, sections)
    for db, stats in sections.get("keyspace", {}).items():
        if db.startswith("db"):
            _database(b, db, parse_kv_list(stats))
    _commandstats(b, sections.get("commandstats", {}), sections.get("latencystats", {}))
    for key, stat in sections.get("errorstats", {}).items():
        count = _sample(parse_kv_list(stat).get("count", ""))
        if key.startswith("errorstat_") and count is not None:
            b.add(n.ERRORS, count, err=key.removeprefix("errorstat_"))


def families(snap: NodeSnapshot, record: InfoRecord, b: FamilyBuilder) -> None:
    """The INFO families that need more than the reply: the start time, the instance's info,
    its connected replicas (their lag is a difference), the databases' zero-fill. A
    Sentinel's own section is the Sentinel source's."""
    uptime = to_number(record.field("uptime_in_seconds"))
    if uptime is not None:
        # Uptime is as of the poll, so the start time stays the same between polls.
        b.add(n.START_TIME, round((snap.last_success_at or snap.polled_at) - uptime))
    if snap.up:
        # Role and version describe the node as it is now: a node that stopped answering
        # must not go on claiming to be the master.
        _instance_info(b, record, ",".join(snap.groups))
    for replica in record.replicas:
        ip, port, state = replica.ip, replica.port, replica.state
        if replica.offset is not None:
            b.add(n.SLAVE_OFFSET, replica.offset, slave_ip=ip, slave_port=port, slave_state=state)
            if replica.lag_bytes is not None:
                b.add(n.SLAVE_LAG_BYTES, replica.lag_bytes, slave_ip=ip, slave_port=port)
        if replica.lag is not None:
            b.add(n.SLAVE_LAG, replica.lag, slave_ip=ip, slave_port=port, slave_state=state)
    for (db, distribution), bins in sorted(record.keysizes.items()):
        _keysizes_histogram(b, db, distribution, bins)
    for i in range(_databases(snap) if snap.kind == "data" and record.zero_fill else 0):
        db = f"db{i}"
        if db not in record.databases:
            b.add(n.DB_KEYS, 0, db=db)
            b.add(n.DB_KEYS_EXPIRING, 0, db=db)


# `INFO keysizes` distribution -> its family and the `type` label (strings count bytes, the
# collections their items).
_DISTRIBUTIONS = {
    "strings_sizes": (n.KEYSIZES_STRING_BYTES, "string"),
    "lists_items": (n.KEYSIZES_ITEMS, "list"),
    "sets_items": (n.KEYSIZES_ITEMS, "set"),
    "zsets_items": (n.KEYSIZES_ITEMS, "zset"),
    "hashes_items": (n.KEYSIZES_ITEMS, "hash"),
}


def _keysizes_histogram(
    b: FamilyBuilder, db: str, distribution: str, bins: Sequence[tuple[int, int]]
) -> None:
    """A power-of-two bin [bin, 2 * bin) of whole bytes or items is the bucket
    `le = 2 * bin - 1` (0 for empty values), exact for integer sizes; no sum is known."""
    found = _DISTRIBUTIONS.get(distribution)
    if found is None:
        return
    defn, kind = found
    labels = {"db": db} if kind == "string" else {"db": db, "type": kind}
    total = 0
    for size, keys in bins:
        total += keys
        b.add(defn, total, "_bucket", **labels, le=str(max(2 * size - 1, 0)))
    b.add(defn, total, "_bucket", **labels, le="+Inf")
    b.add(defn, total, "_count", **labels)


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


def _master_link(b: FamilyBuilder, sections: InfoSections) -> None:
    """A replica's link to its master, as `InfoRecord.master` reads it."""
    mode = _field(sections, "redis_mode") or _field(sections, "server_mode")
    if mode == "sentinel" or "sentinel" in sections or _field(sections, "role") != "slave":
        return
    master = {
        "master_host": _field(sections, "master_host"),
        "master_port": _field(sections, "master_port"),
    }
    up = _field(sections, "master_link_status") == "up"
    b.add(n.SLAVE_INFO, 1, **master, read_only=_field(sections, "slave_read_only"))
    b.add(n.MASTER_LINK_UP, 1 if up else 0, **master)
    for field, defn in (
        ("master_last_io_seconds_ago", n.MASTER_LAST_IO),
        ("master_sync_in_progress", n.MASTER_SYNC),
        ("slave_repl_offset", n.SLAVE_REPL_OFFSET),
    ):
        value = _sample(_field(sections, field))
        if value is not None:
            b.add(defn, value, **master)
    # Redis only reports the field while the link is down.
    down = _sample(_field(sections, "master_link_down_since_seconds")) if not up else 0
    if down is not None:
        b.add(n.MASTER_LINK_DOWN_SINCE, down, **master)


def _database(b: FamilyBuilder, db: str, stats: Mapping[str, str]) -> None:
    for field, defn, exponent in (
        ("keys", n.DB_KEYS, 0),
        ("expires", n.DB_KEYS_EXPIRING, 0),
        ("avg_ttl", n.DB_AVG_TTL, 3),
        ("cached_keys", n.DB_KEYS_CACHED, 0),
        # Redis 7.4+ counts keys with hash-field TTLs, Valkey 9 keys with volatile items.
        ("subexpiry", n.DB_KEYS_WITH_EXPIRING_ITEMS, 0),
        ("keys_with_volatile_items", n.DB_KEYS_WITH_EXPIRING_ITEMS, 0),
    ):
        value = _sample(stats.get(field, ""), exponent)
        if value is not None:
            b.add(defn, value, db=db)


def _commandstats(
    b: FamilyBuilder, commandstats: Mapping[str, str], latency: Mapping[str, str]
) -> None:
    calls_usec: dict[str, tuple[float | str, float | str]] = {}
    for key, value in commandstats.items():
        if not key.startswith("cmdstat_"):
            continue
        cmd = key.removeprefix("cmdstat_").lower()
        stats = parse_kv_list(value)
        calls = _sample(stats.get("calls", ""))
        usec = _sample(stats.get("usec", ""))
        seconds = _sample(stats.get("usec", ""), 6)
        if calls is None or usec is None or seconds is None:
            continue
        calls_usec[cmd] = (calls, usec)
        b.add(n.COMMANDS, calls, cmd=cmd)
        b.add(n.COMMANDS_DURATION, seconds, cmd=cmd)
        for field, defn in (
            ("rejected_calls", n.COMMANDS_REJECTED),
            ("failed_calls", n.COMMANDS_FAILED),
        ):
            number = _sample(stats.get(field, ""))
            if number is not None:
                b.add(defn, number, cmd=cmd)
    for key, value in latency.items():
        if not key.startswith("latency_percentiles_usec_"):
            continue
        cmd = key.removeprefix("latency_percentiles_usec_").lower()
        for quantile, raw in parse_kv_list(value).items():
            number = _sample(raw)
            if quantile.startswith("p") and number is not None:
                b.add(n.LATENCY_PERCENTILES, number, cmd=cmd, quantile=quantile[1:])
        if cmd in calls_usec:
            calls, usec = calls_usec[cmd]
            b.add(n.LATENCY_PERCENTILES, usec, "_sum", cmd=cmd)
            b.add(n.LATENCY_PERCENTILES, calls, "_count", cmd=cmd)


def _templated(record: InfoRecord, b: FamilyBuilder) -> None:
    templated(record.parsed(), b)


SOURCE = Source(
    "info",
    InfoRecord,
    ANY_KIND,
    commands,
    parse,
    families,
    templated=_templated,
    required=True,
    metrics=declared(vars(n)),
    settings=(EMPTY_DATABASES,),
    acl=("+info",),
)
