"""COMMANDLOG (Valkey 8.1+): its three logs (slow, large-request, large-reply), entries new
since the last poll counted per command exactly once, as the slowlog's are.

redis_commandlog_slow_length{instance="10.0.0.1:6379"} 12
redis_commandlog_entries_total{cmd="hgetall",type="large-reply",instance="10.0.0.1:6379"} 3
redis_commandlog_reply_bytes_total{cmd="hgetall",instance="10.0.0.1:6379"} 3.3554432e+07
redis_commandlog_duration_seconds_total{cmd="debug",instance="10.0.0.1:6379"} 0.61
redis_commandlog_entries_missed_total{type="slow",instance="10.0.0.1:6379"} 0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from redis_ha_exporter.metrics.model import FamilyBuilder, MetricDef, declared, metric
from redis_ha_exporter.replies import to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Command, NodeView, Reply, Source
from redis_ha_exporter.sources.slowlog import (
    FETCH,
    FETCH_MAX,
    SlowlogRecord,
    advance,
    parse_entries,
    second_read,
)

# Valkey 8.1 added COMMANDLOG; redis_version stays 7.2.4 there, so this is valkey_version.
SINCE = (8, 1)
# Each log's type word, as COMMANDLOG takes it; the slow log is the one SLOWLOG also reads.
TYPES = ("slow", "large-request", "large-reply")

SLOW_LENGTH = metric("commandlog_slow_length", "gauge", "Number of entries in the slow log.")
LARGE_REQUEST_LENGTH = metric(
    "commandlog_large_request_length", "gauge", "Number of entries in the large-request log."
)
LARGE_REPLY_LENGTH = metric(
    "commandlog_large_reply_length", "gauge", "Number of entries in the large-reply log."
)
ENTRIES = metric(
    "commandlog_entries_total",
    "counter",
    "COMMANDLOG entries seen by the exporter, per log type and command.",
)
DURATION = metric(
    "commandlog_duration_seconds_total",
    "counter",
    "Execution time of slow-log entries seen, per command, in seconds.",
)
REQUEST_BYTES = metric(
    "commandlog_request_bytes_total",
    "counter",
    "Request size of large-request entries seen, per command, in bytes.",
)
REPLY_BYTES = metric(
    "commandlog_reply_bytes_total",
    "counter",
    "Reply size of large-reply entries seen, per command, in bytes.",
)
MISSED = metric(
    "commandlog_entries_missed_total",
    "counter",
    "COMMANDLOG entries that fell off their log between two polls and were never seen.",
)

# Per type: its length family, its value family, and the scale from the log's unit (the
# slow log's microseconds, the size logs' bytes) to the family's.
_BY_TYPE: Mapping[str, tuple[MetricDef, MetricDef, float]] = {
    "slow": (SLOW_LENGTH, DURATION, 1e-6),
    "large-request": (LARGE_REQUEST_LENGTH, REQUEST_BYTES, 1.0),
    "large-reply": (LARGE_REPLY_LENGTH, REPLY_BYTES, 1.0),
}


@dataclass(frozen=True, slots=True)
class CommandlogRecord:
    """Each log's length as last read and its count since the exporter started, by type;
    a type's tally follows the slowlog's rules (`slowlog.advance`)."""

    lengths: Mapping[str, int] = field(default_factory=dict)
    tallies: Mapping[str, SlowlogRecord] = field(default_factory=dict)


def has_commandlog(node: NodeView) -> bool:
    return node.kind == "data" and node.valkey >= SINCE


def commands(node: NodeView, prev: CommandlogRecord | None) -> Sequence[Command]:
    if not has_commandlog(node):
        return ()
    fetch = FETCH.of(node.options)
    out: list[Command] = []
    for kind in TYPES:
        out += [("COMMANDLOG", "GET", fetch, kind), ("COMMANDLOG", "LEN", kind)]
    return out


def _tally(prev: CommandlogRecord | None, kind: str) -> SlowlogRecord | None:
    return prev.tallies.get(kind) if prev is not None else None


def more(
    node: NodeView, prev: CommandlogRecord | None, replies: Sequence[Reply]
) -> Sequence[Command]:
    """A second read of each log that gained more entries than one window holds."""
    fetch, ceiling = FETCH.of(node.options), FETCH_MAX.of(node.options)
    out: list[Command] = []
    for i, kind in enumerate(TYPES):
        if len(replies) >= 2 * i + 2:
            wanted = second_read(
                _tally(prev, kind), replies[2 * i], replies[2 * i + 1], fetch, ceiling
            )
            if wanted:
                out.append(("COMMANDLOG", "GET", wanted, kind))
    return out


def parse(
    node: NodeView, prev: CommandlogRecord | None, replies: Sequence[Reply]
) -> CommandlogRecord:
    first = replies[: 2 * len(TYPES)]
    # The second reads come in the order `more` asked for them, which it tells again.
    asked = more(node, prev, first)
    second = {str(c[3]): r for c, r in zip(asked, replies[len(first) :], strict=False)}
    lengths: dict[str, int] = {}
    tallies: dict[str, SlowlogRecord] = {}
    for i, kind in enumerate(TYPES):
        reads = [*first[2 * i : 2 * i + 1], *([second[kind]] if kind in second else [])]
        by_id = {e.id: e for reply in reads for e in parse_entries(reply)}
        entries = sorted(by_id.values(), key=lambda e: e.id)
        scale = _BY_TYPE[kind][2]
        tallies[kind] = advance(_tally(prev, kind) or SlowlogRecord(), entries, node.run_id, scale)
        length = to_int(first[2 * i + 1]) if len(first) > 2 * i + 1 else None
        if length is not None:
            lengths[kind] = length
    return CommandlogRecord(lengths, tallies)


def families(snap: NodeSnapshot, record: CommandlogRecord, b: FamilyBuilder) -> None:
    for kind in TYPES:
        length_family, value_family, _scale = _BY_TYPE[kind]
        if kind in record.lengths:
            b.add(length_family, record.lengths[kind])
        tally = record.tallies.get(kind)
        if tally is None or tally.last_id is None:
            continue
        for cmd in sorted(tally.entries):
            b.add(ENTRIES, tally.entries[cmd], type=kind, cmd=cmd)
            b.add(value_family, tally.seconds.get(cmd, 0.0), cmd=cmd)
        b.add(MISSED, tally.missed, type=kind)


SOURCE = Source(
    "commandlog",
    CommandlogRecord,
    DATA,
    commands,
    parse,
    families,
    more=more,
    metrics=declared(globals()),
    # Not in the data nodes' ACL line, which Redis would refuse: the README adds it for Valkey.
    acl_valkey=("+commandlog|get", "+commandlog|len"),
)
