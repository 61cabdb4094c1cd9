"""Watched streams (`--check-streams` patterns, `--check-single-streams` names): each stream's
`XINFO STREAM`, its consumer groups and their consumers, on a walk of its own time budget.
Each series has the node's `instance` label as well:

redis_stream_length{db="db0",stream="orders"} 1200
redis_stream_last_generated_id{db="db0",stream="orders"} 1700000000000
redis_stream_group_lag{db="db0",stream="orders",group="billing"} 4
redis_stream_group_consumer_idle_seconds{db="db0",stream="orders",group="billing",consumer="w1"} 2.5
redis_exporter_streams_truncated 0

An id reads as its milliseconds part, as redis_exporter reads it (`1700000000000-5` is
1700000000000). A stream that does not exist has no series, named or not: unlike a drained
queue, whose length is truly 0, a missing stream has no groups and no ids to report, and a 0
for an id would be a lie. A field the server does not give (Redis 7's `entries-added` on 6.2, a
nil `lag` or `entries-read`) has no sample for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from redis_ha_exporter.metrics.model import FamilyBuilder, MetricDef, declared, metric
from redis_ha_exporter.replies import decode, to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import (
    DATA,
    NodeView,
    Reply,
    Run,
    Setting,
    Source,
    Walk,
    no_commands,
    no_parse,
)
from redis_ha_exporter.sources.keys import BATCH, ON, SKIP_MASTER, runs_here
from redis_ha_exporter.sources.scan import KeyTask, Scan, scan_step, split_targets, targets_check

CHECK_STREAMS = Setting(
    "check_streams",
    list[str],
    list[str](),
    "--check-streams",
    ("REDIS_EXPORTER_CHECK_STREAMS",),
    "stream patterns whose streams, groups and consumers to export, `[dbN=]pattern` separated "
    "by commas (db0 when not given); expanded with SCAN of TYPE stream, never KEYS, within the "
    "streams' time budget and cap",
    metavar="PATTERNS",
    default_text="none",
    check=targets_check,
    example=["db0=events:*"],
)
CHECK_SINGLE_STREAMS = Setting(
    "check_single_streams",
    list[str],
    list[str](),
    "--check-single-streams",
    ("REDIS_EXPORTER_CHECK_SINGLE_STREAMS",),
    "streams to export, `[dbN=]name` separated by commas; a missing one has no series",
    metavar="STREAMS",
    default_text="none",
    check=targets_check,
)
EXCLUDE_CONSUMERS = Setting(
    "streams_exclude_consumer_metrics",
    bool,
    False,
    "--streams-exclude-consumer-metrics",
    ("REDIS_EXPORTER_STREAMS_EXCLUDE_CONSUMER_METRICS",),
    "leave out the series of each consumer (redis_stream_group_consumer_*) and the XINFO "
    "CONSUMERS they take",
    metavar="BOOL",
)
BUDGET = Setting(
    "check_streams_budget",
    float,
    1.0,
    "--check-streams-budget",
    ("REDIS_EXPORTER_CHECK_STREAMS_BUDGET",),
    "seconds the stream checks may take per poll (after the poll, on its connection); past it "
    "they stop, keep what they have and set redis_exporter_streams_truncated",
    metavar="SECONDS",
    ge=0.001,
    le=60,
)
MAX_STREAMS = Setting(
    "check_streams_max",
    int,
    100,
    "--check-streams-max",
    ("REDIS_EXPORTER_CHECK_STREAMS_MAX",),
    "the most streams patterns may add, each with series per group and consumer; past it the "
    "rest are left out and redis_exporter_streams_truncated is 1",
    metavar="N",
    ge=1,
    le=100_000,
)

_ID = "(its milliseconds part)"
_NIL = "no sample when the server cannot tell (Redis 7+)"
LENGTH = metric("stream_length", "gauge", "Entries in the stream.")
RADIX_KEYS = metric("stream_radix_tree_keys", "gauge", "Keys of the stream's radix tree.")
RADIX_NODES = metric("stream_radix_tree_nodes", "gauge", "Nodes of the stream's radix tree.")
LAST_GENERATED = metric("stream_last_generated_id", "gauge", f"The last id generated {_ID}.")
GROUPS = metric("stream_groups", "gauge", "Consumer groups of the stream.")
FIRST_ENTRY = metric("stream_first_entry_id", "gauge", f"The first entry's id {_ID}.")
LAST_ENTRY = metric("stream_last_entry_id", "gauge", f"The last entry's id {_ID}.")
MAX_DELETED = metric(
    "stream_max_deleted_entry_id", "gauge", f"The greatest id deleted {_ID}, 0 if none (Redis 7+)."
)
ENTRIES_ADDED = metric(
    "stream_entries_added_total", "counter", "Entries ever added to the stream (Redis 7+)."
)
GROUP_CONSUMERS = metric("stream_group_consumers", "gauge", "Consumers of the group.")
GROUP_PENDING = metric(
    "stream_group_messages_pending", "gauge", "Entries delivered to the group, not yet acked."
)
GROUP_LAST_DELIVERED = metric(
    "stream_group_last_delivered_id", "gauge", f"The last id delivered to the group {_ID}."
)
GROUP_ENTRIES_READ = metric(
    "stream_group_entries_read", "gauge", f"Entries the group has read; {_NIL}."
)
GROUP_LAG = metric("stream_group_lag", "gauge", f"Entries not yet delivered to the group; {_NIL}.")
CONSUMER_PENDING = metric(
    "stream_group_consumer_messages_pending", "gauge", "Entries delivered, not yet acked."
)
CONSUMER_IDLE = metric(
    "stream_group_consumer_idle_seconds", "gauge", "Seconds since the consumer last read."
)
TRUNCATED = metric(
    "exporter_streams_truncated",
    "gauge",
    "1 when the last stream checks stopped early (--check-streams-budget or "
    "--check-streams-max): some streams have no series.",
)


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    pending: int | None
    idle_seconds: float | None


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    consumers: int | None
    pending: int | None
    last_delivered_id: int | None
    entries_read: int | None
    lag: int | None
    members: tuple[Consumer, ...] = ()


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream's `XINFO STREAM`; None for what the server did not give."""

    length: int
    radix_tree_keys: int | None
    radix_tree_nodes: int | None
    last_generated_id: int | None
    groups: int | None
    first_entry_id: int | None
    last_entry_id: int | None
    max_deleted_entry_id: int | None
    entries_added: int | None
    group_info: tuple[Group, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamsRecord:
    """Each stream read: (db label, name, stream); `why` says why some were left out."""

    streams: tuple[tuple[str, str, Stream], ...]
    why: str = ""


def _fields(reply: Reply) -> dict[str, Reply] | None:
    """A flat `[name, value, ...]` reply with its values as they came; None if not an array."""
    if not isinstance(reply, (list, tuple)):
        return None
    return {decode(k): v for k, v in zip(reply[0::2], reply[1::2], strict=False)}


def entry_id_ms(value: Reply) -> int | None:
    """An id's milliseconds part (`1700000000000-5` -> 1700000000000); None if not an id."""
    if not isinstance(value, (bytes, str)):
        return None
    ms = decode(value).partition("-")[0]
    return to_int(ms) if ms.isascii() and ms.isdigit() else None


def _entry(value: Reply) -> int | None:
    """`first-entry`/`last-entry`: `[id, [field, value, ...]]`, nil for an empty stream."""
    return entry_id_ms(value[0]) if isinstance(value, (list, tuple)) and value else None


def parse_stream(reply: Reply) -> Stream | None:
    """`XINFO STREAM`; None for an error (no such key, wrong type) or no numeric length."""
    f = _fields(reply)
    length = to_int(f.get("length")) if f is not None else None
    if f is None or length is None:
        return None
    return Stream(
        length,
        to_int(f.get("radix-tree-keys")),
        to_int(f.get("radix-tree-nodes")),
        entry_id_ms(f.get("last-generated-id")),
        to_int(f.get("groups")),
        _entry(f.get("first-entry")),
        _entry(f.get("last-entry")),
        entry_id_ms(f.get("max-deleted-entry-id")),
        to_int(f.get("entries-added")),
    )


def _named(reply: Reply) -> list[tuple[bytes, dict[str, Reply]]]:
    """The entries of `XINFO GROUPS` or `CONSUMERS` with their raw name (a name need not be
    UTF-8, and a group's goes back in `XINFO CONSUMERS`); those without one are dropped."""
    items = reply if isinstance(reply, (list, tuple)) else ()
    found = [f for f in map(_fields, items) if f is not None]
    return [(f["name"], f) for f in found if isinstance(f.get("name"), bytes)]


def parse_groups(reply: Reply) -> list[tuple[bytes, Group]]:
    """`XINFO GROUPS`, with each group's raw name; an error gives none."""
    return [
        (
            raw,
            Group(
                decode(raw),
                to_int(f.get("consumers")),
                to_int(f.get("pending")),
                entry_id_ms(f.get("last-delivered-id")),
                to_int(f.get("entries-read")),
                to_int(f.get("lag")),
            ),
        )
        for raw, f in _named(reply)
    ]


def parse_consumers(reply: Reply) -> tuple[Consumer, ...]:
    """`XINFO CONSUMERS`, whose `idle` is in milliseconds. Valkey and Redis 7.2 add
    `inactive`, not exported (redis_exporter has no series for it)."""
    out = []
    for raw, f in _named(reply):
        idle = to_int(f.get("idle"))
        seconds = None if idle is None else idle / 1000
        out.append(Consumer(decode(raw), to_int(f.get("pending")), seconds))
    return tuple(out)


def _at(replies: Sequence[Reply], i: int) -> Reply:
    return replies[i] if i < len(replies) else None


def stream_task(key: bytes, named: bool, consumers: bool) -> KeyTask:
    """A named key's TYPE first (a pattern's SCAN already asked for streams only), so XINFO
    never goes to a key that is not a stream; then `XINFO STREAM` and `XINFO GROUPS` in one
    step, and `XINFO CONSUMERS` of every group in the next. Returns the Stream, or None."""
    if named:
        replies = yield [("TYPE", key)]
        if _at(replies, 0) != b"stream":
            return None
    replies = yield [("XINFO", "STREAM", key), ("XINFO", "GROUPS", key)]
    stream = parse_stream(_at(replies, 0))
    if stream is None:
        return None
    groups = parse_groups(_at(replies, 1))
    if consumers and groups:
        replies = yield [("XINFO", "CONSUMERS", key, raw) for raw, _ in groups]
        groups = [
            (raw, replace(group, members=parse_consumers(_at(replies, i))))
            for i, (raw, group) in enumerate(groups)
        ]
    return replace(stream, group_info=tuple(group for _, group in groups))


def start(node: NodeView, prev: StreamsRecord | None) -> Scan | None:
    options = node.options
    patterns, named = CHECK_STREAMS.of(options), CHECK_SINGLE_STREAMS.of(options)
    if not (patterns or named):
        return None
    if not runs_here(node, ON.of(options), SKIP_MASTER.of(options)):
        return None
    # A pattern without glob characters names one stream: checked as a named one.
    singles, globs = split_targets([*named, *patterns])
    consumers = not EXCLUDE_CONSUMERS.of(options)

    def make(db: int, key: bytes, is_named: bool) -> KeyTask:
        return stream_task(key, is_named, consumers)

    batch, cap = BATCH.of(options), MAX_STREAMS.of(options)
    return Scan(make, singles, globs, batch=batch, cap=cap, scan_type="stream")


def finish(node: NodeView, prev: StreamsRecord | None, scan: Scan, run: Run) -> StreamsRecord:
    if run.out_of_time:
        scan.stop()
    streams = tuple(
        (f"db{db}", decode(key), stream)
        for db, key, stream in scan.results
        if isinstance(stream, Stream)
    )
    cut = [f"db{db}={pattern}" for db, pattern in dict.fromkeys(scan.cut)]
    options = node.options
    reason = (
        run.limit
        if run.out_of_time
        else f"its cap of {MAX_STREAMS.of(options)} streams (--check-streams-max)"
        if scan.at_cap
        else "an error reply to SCAN"
    )
    why = ""
    if cut:
        why = f"patterns {', '.join(cut)} not fully expanded: {reason}"
    elif run.out_of_time or scan.at_cap:
        # Named streams still being read, or a pattern's last SCAN page past the cap: no
        # pattern is cut, yet streams are left out.
        why = f"streams left out: {reason}"
    return StreamsRecord(streams, why)


def stopped(record: StreamsRecord) -> str:
    return record.why


def _add(b: FamilyBuilder, defn: MetricDef, value: float | None, **labels: str) -> None:
    if value is not None:
        b.add(defn, value, **labels)


def families(snap: NodeSnapshot, record: StreamsRecord, b: FamilyBuilder) -> None:
    for db, name, s in record.streams:
        on = {"db": db, "stream": name}
        b.add(LENGTH, s.length, **on)
        _add(b, RADIX_KEYS, s.radix_tree_keys, **on)
        _add(b, RADIX_NODES, s.radix_tree_nodes, **on)
        _add(b, LAST_GENERATED, s.last_generated_id, **on)
        _add(b, GROUPS, s.groups, **on)
        _add(b, FIRST_ENTRY, s.first_entry_id, **on)
        _add(b, LAST_ENTRY, s.last_entry_id, **on)
        _add(b, MAX_DELETED, s.max_deleted_entry_id, **on)
        _add(b, ENTRIES_ADDED, s.entries_added, **on)
        for g in s.group_info:
            of = {**on, "group": g.name}
            _add(b, GROUP_CONSUMERS, g.consumers, **of)
            _add(b, GROUP_PENDING, g.pending, **of)
            _add(b, GROUP_LAST_DELIVERED, g.last_delivered_id, **of)
            _add(b, GROUP_ENTRIES_READ, g.entries_read, **of)
            _add(b, GROUP_LAG, g.lag, **of)
            for c in g.members:
                _add(b, CONSUMER_PENDING, c.pending, **of, consumer=c.name)
                _add(b, CONSUMER_IDLE, c.idle_seconds, **of, consumer=c.name)
    b.add(TRUNCATED, int(bool(record.why)))


SOURCE = Source(
    "check-streams",
    StreamsRecord,
    DATA,
    no_commands,
    no_parse,
    families,
    metrics=declared(globals()),
    settings=(CHECK_STREAMS, CHECK_SINGLE_STREAMS, EXCLUDE_CONSUMERS, BUDGET, MAX_STREAMS),
    acl_keys=(
        "+select",
        "+scan",
        "+type",
        "+xinfo|stream",
        "+xinfo|groups",
        "+xinfo|consumers",
    ),
    walk=Walk(BUDGET, start, scan_step, finish, stopped),
)
