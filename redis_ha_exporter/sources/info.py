"""INFO: every section we export, in one call, parsed into `section -> field -> value`.

redis_memory_used_bytes{instance="10.0.0.1:6379"} 2.41552e+06
redis_instance_info{instance="10.0.0.1:6379",master_name="mymaster",role="master",...} 1
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from redis_ha_exporter.metrics.info import add_info
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.replies import decode, parse_kv_list, to_number
from redis_ha_exporter.snapshot import ConfigRecord, InfoRecord, NodeSnapshot
from redis_ha_exporter.sources.base import ANY_KIND, Command, NodeView, Reply, Source

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
DEFAULT_DATABASES = 16


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


def is_sentinel(info: InfoRecord) -> bool:
    mode = info.field("redis_mode") or info.field("server_mode")  # Valkey 8: server_mode
    return mode == "sentinel" or "sentinel" in info.sections


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
    return InfoRecord(sections)


def families(snap: NodeSnapshot, record: InfoRecord, b: FamilyBuilder) -> None:
    config = snap.get(ConfigRecord)
    add_info(
        b,
        record.sections,
        # Uptime is as of the poll, so the start time stays the same between polls.
        now=snap.last_success_at or snap.polled_at,
        # Role and version describe the node as it is now: a node that stopped answering
        # must not go on claiming to be the master.
        with_instance_info=snap.up,
        master_name=",".join(snap.groups),
        databases=_databases(config) if snap.kind == "data" else None,
    )


def _databases(config: ConfigRecord | None) -> int:
    value = to_number(config.values.get("databases", "")) if config is not None else None
    # Zero-fill is bounded so a hostile or odd reply cannot explode cardinality.
    return int(value) if value is not None and 0 < value <= 1024 else DEFAULT_DATABASES


SOURCE = Source("info", InfoRecord, ANY_KIND, commands, parse, families, required=True)
