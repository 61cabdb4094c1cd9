"""redis_ha_exporter.sources.streams: XINFO STREAM, GROUPS and CONSUMERS replies as the wire
hands them over (RESP2 flat arrays of bytes, written out here as Redis 7.0 and Valkey 8.1/9.1
sent them, and Redis 6.2's shorter ones as its documentation gives them), the walk's rounds
against a small in-memory server, and the series."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import Command, NodeView, PollOptions, Reply, Run
from redis_ha_exporter.sources.keys import BATCH, ON
from redis_ha_exporter.sources.scan import scan_step
from redis_ha_exporter.sources.streams import (
    CHECK_SINGLE_STREAMS,
    CHECK_STREAMS,
    EXCLUDE_CONSUMERS,
    MAX_STREAMS,
    SOURCE,
    Consumer,
    Group,
    Stream,
    StreamsRecord,
    entry_id_ms,
    finish,
    parse_consumers,
    parse_groups,
    parse_stream,
    start,
    stream_task,
)
from redis_ha_exporter.wire import ReplyError
from tests.promtext import index, parse_series
from tests.unit.test_sources_fuzz import REPLIES

# Redis 7.0 / Valkey: three entries added, the middle one deleted.
STREAM_7 = [
    b"length", 2,
    b"radix-tree-keys", 1,
    b"radix-tree-nodes", 2,
    b"last-generated-id", b"1700000000002-5",
    b"max-deleted-entry-id", b"1700000000001-0",
    b"entries-added", 3,
    b"recorded-first-entry-id", b"1700000000000-0",
    b"groups", 2,
    b"first-entry", [b"1700000000000-0", [b"a", b"1"]],
    b"last-entry", [b"1700000000002-5", [b"a", b"3"]],
]  # fmt: skip
# Redis 6.2 has no entries-added, max-deleted-entry-id or recorded-first-entry-id.
STREAM_62 = [
    b"length", 1,
    b"radix-tree-keys", 1,
    b"radix-tree-nodes", 2,
    b"last-generated-id", b"1600000000000-0",
    b"groups", 0,
    b"first-entry", [b"1600000000000-0", [b"a", b"1"]],
    b"last-entry", [b"1600000000000-0", [b"a", b"1"]],
]  # fmt: skip
# Trimmed to nothing: first-entry and last-entry are nil.
STREAM_EMPTY = [
    b"length", 0,
    b"radix-tree-keys", 0,
    b"radix-tree-nodes", 1,
    b"last-generated-id", b"1796590850538-0",
    b"max-deleted-entry-id", b"0-0",
    b"entries-added", 1,
    b"recorded-first-entry-id", b"0-0",
    b"groups", 0,
    b"first-entry", None,
    b"last-entry", None,
]  # fmt: skip
# billing has read every entry; audit's entries-read and lag are nil: the server cannot count
# them (a group that never read, or one behind a deletion).
GROUPS_7 = [
    [b"name", b"billing", b"consumers", 2, b"pending", 2,
     b"last-delivered-id", b"1700000000002-5", b"entries-read", 3, b"lag", 0],
    [b"name", b"audit", b"consumers", 0, b"pending", 0,
     b"last-delivered-id", b"0-0", b"entries-read", None, b"lag", None],
]  # fmt: skip
GROUPS_62 = [[b"name", b"billing", b"consumers", 1, b"pending", 1,
              b"last-delivered-id", b"1600000000000-0"]]  # fmt: skip
# Valkey (and Redis 7.2) add `inactive`.
CONSUMERS_VALKEY = [
    [b"name", b"alice", b"pending", 1, b"idle", 2500, b"inactive", 2500],
    [b"name", b"bob", b"pending", 1, b"idle", 3, b"inactive", 3],
]
NO_SUCH_KEY = ReplyError("ERR no such key")


def test_xinfo_stream_of_redis_7_reads_every_field_ids_as_their_milliseconds() -> None:
    assert parse_stream(STREAM_7) == Stream(
        length=2,
        radix_tree_keys=1,
        radix_tree_nodes=2,
        last_generated_id=1700000000002,
        groups=2,
        first_entry_id=1700000000000,
        last_entry_id=1700000000002,
        max_deleted_entry_id=1700000000001,
        entries_added=3,
    )


def test_redis_6_has_no_redis_7_fields_and_an_empty_stream_no_entry_ids() -> None:
    old = parse_stream(STREAM_62)
    assert old is not None
    assert (old.max_deleted_entry_id, old.entries_added) == (None, None)
    assert (old.first_entry_id, old.last_entry_id) == (1600000000000, 1600000000000)
    empty = parse_stream(STREAM_EMPTY)
    assert empty is not None
    assert (empty.length, empty.first_entry_id, empty.last_entry_id) == (0, None, None)
    assert empty.max_deleted_entry_id == 0  # `0-0`: nothing deleted, which is a real 0


def test_an_error_or_a_reply_without_a_length_is_no_stream() -> None:
    for reply in (NO_SUCH_KEY, None, b"stream", [], [b"groups", 2], [b"length", b"many"]):
        assert parse_stream(reply) is None


def test_ids_read_as_their_milliseconds_part_and_nothing_else_is_an_id() -> None:
    assert entry_id_ms(b"1700000000000-5") == 1700000000000
    assert entry_id_ms(b"0-0") == 0
    assert entry_id_ms(b"18446744073709551615-18446744073709551615") == 2**64 - 1
    assert entry_id_ms(b"1700000000000") == 1700000000000  # an id's sequence may be left out
    for junk in (b"", b"-1-0", b"abc-0", b"\xd9\xa3-0", None, 17, [b"1-0"], b"9" * 5000):
        assert entry_id_ms(junk) is None


def test_groups_keep_nil_lag_and_entries_read_as_unknown() -> None:
    assert parse_groups(GROUPS_7) == [
        (b"billing", Group("billing", 2, 2, 1700000000002, 3, 0)),
        (b"audit", Group("audit", 0, 0, 0, None, None)),
    ]
    assert parse_groups(GROUPS_62) == [
        (b"billing", Group("billing", 1, 1, 1600000000000, None, None))
    ]


def test_a_group_name_that_is_not_utf8_is_sent_back_as_it_came() -> None:
    reply = [[b"name", b"gr\xffup", b"consumers", 0, b"pending", 0]]
    ((raw, group),) = parse_groups(reply)
    assert raw == b"gr\xffup" and group.name == "gr\ufffdup"


def test_consumer_idle_is_milliseconds_in_the_reply_and_seconds_exported() -> None:
    assert parse_consumers(CONSUMERS_VALKEY) == (
        Consumer("alice", 1, 2.5),
        Consumer("bob", 1, 0.003),
    )
    assert parse_consumers(ReplyError("NOGROUP No such consumer group")) == ()
    assert parse_consumers([[b"pending", 1], b"junk", None]) == ()  # no name: no consumer


def _drive(task: Any, answer: Callable[[Command], Reply]) -> tuple[Any, list[list[Command]]]:
    """Run one stream's task to its end; its result and the commands of each step."""
    steps: list[list[Command]] = []
    try:
        commands = next(task)
        while True:
            steps.append(commands)
            commands = task.send([answer(c) for c in commands])
    except StopIteration as done:
        return done.value, steps


class FakeServer:
    """Streams, other keys and their XINFO replies in db 0 and db 1, answering as a server
    does; it counts XINFO sent to a key that is not a stream."""

    def __init__(self) -> None:
        self.db = 0
        self.keys: dict[tuple[int, bytes], str] = {}
        self.streams: dict[tuple[int, bytes], tuple[Reply, Reply, dict[bytes, Reply]]] = {}
        self.wrong: list[Command] = []

    def stream(self, db: int, key: bytes, info: Reply, groups: Reply, **consumers: Reply) -> None:
        self.keys[(db, key)] = "stream"
        self.streams[(db, key)] = (info, groups, {k.encode(): v for k, v in consumers.items()})

    def answer(self, command: Command) -> Reply:
        name = command[0]
        if name == "SELECT":
            self.db = int(command[1])
            return b"OK"
        if name == "SCAN":  # COUNT keys a page, the cursor their offset
            cursor, pattern, count = int(command[1]), str(command[3]), int(command[5])
            kind = command[7] if len(command) > 7 else None
            found = [
                k
                for (db, k), t in sorted(self.keys.items())
                if db == self.db and fnmatch.fnmatchcase(k.decode(), pattern)
                if kind is None or t == kind
            ]
            end = cursor + count
            return [str(end if end < len(found) else 0).encode(), found[cursor:end]]
        key = command[2] if name == "XINFO" else command[1]
        assert isinstance(key, bytes)
        kind = self.keys.get((self.db, key), "none")
        if name == "TYPE":
            return kind.encode()
        if kind != "stream":
            self.wrong.append(command)
            return NO_SUCH_KEY if kind == "none" else ReplyError("WRONGTYPE Operation")
        info, groups, consumers = self.streams[(self.db, key)]
        if command[1] == "STREAM":
            return info
        if command[1] == "GROUPS":
            return groups
        group = command[3]
        assert isinstance(group, bytes)
        return consumers.get(group, ReplyError("NOGROUP No such consumer group"))


def test_a_named_stream_gets_type_first_then_info_and_groups_then_all_consumers() -> None:
    server = FakeServer()
    server.stream(0, b"orders", STREAM_7, GROUPS_7, billing=CONSUMERS_VALKEY, audit=[])
    result, steps = _drive(stream_task(b"orders", True, True), server.answer)
    assert steps == [
        [("TYPE", b"orders")],
        [("XINFO", "STREAM", b"orders"), ("XINFO", "GROUPS", b"orders")],
        [
            ("XINFO", "CONSUMERS", b"orders", b"billing"),
            ("XINFO", "CONSUMERS", b"orders", b"audit"),
        ],
    ]
    assert [g.members for g in result.group_info] == [parse_consumers(CONSUMERS_VALKEY), ()]
    # Matched by SCAN ... TYPE stream, it is known to be a stream: no TYPE; and no consumers.
    result, steps = _drive(stream_task(b"orders", False, False), server.answer)
    assert steps == [[("XINFO", "STREAM", b"orders"), ("XINFO", "GROUPS", b"orders")]]
    assert [g.members for g in result.group_info] == [(), ()]


def test_a_missing_or_other_named_key_has_no_stream_and_is_never_sent_xinfo() -> None:
    server = FakeServer()
    server.keys[(0, b"queue")] = "list"
    for key in (b"queue", b"gone"):
        assert _drive(stream_task(key, True, True), server.answer) == (None, [[("TYPE", key)]])
    assert server.wrong == []
    # A matched stream deleted between SCAN and XINFO: the error reply means no stream.
    result, _ = _drive(stream_task(b"gone", False, True), server.answer)
    assert result is None


def test_a_group_gone_before_its_consumers_are_read_keeps_its_own_series() -> None:
    server = FakeServer()
    server.stream(0, b"orders", STREAM_7, GROUPS_7, billing=CONSUMERS_VALKEY)  # audit: NOGROUP
    result, _ = _drive(stream_task(b"orders", False, True), server.answer)
    assert [(g.name, len(g.members)) for g in result.group_info] == [("billing", 2), ("audit", 0)]


def _node(values: Mapping[str, object], role: str = "master") -> NodeView:
    return NodeView("n", "data", (7, 0), 3, PollOptions(values), role=role)


def _walk(
    node: NodeView, server: FakeServer, out_of_time_after: int | None = None
) -> tuple[StreamsRecord, list[Sequence[Command]]]:
    state = start(node, None)
    assert state is not None
    state, commands = scan_step(node, state, ())
    rounds: list[Sequence[Command]] = []
    while commands and (out_of_time_after is None or len(rounds) < out_of_time_after):
        rounds.append(commands)
        state, commands = scan_step(node, state, [server.answer(c) for c in commands])
    limit = "its time budget of 1s (--check-streams-budget)" if commands else ""
    return finish(node, None, state, Run(0.01, len(rounds), 0, limit)), rounds


def test_the_walk_scans_for_streams_only_and_reads_each_database() -> None:
    server = FakeServer()
    server.stream(0, b"events:a", STREAM_7, GROUPS_7, billing=CONSUMERS_VALKEY, audit=[])
    server.stream(0, b"events:empty", STREAM_EMPTY, [])
    server.keys[(0, b"events:list")] = "list"
    server.stream(1, b"jobs", STREAM_62, GROUPS_62, billing=[])
    node = _node(
        {CHECK_STREAMS.name: ["events:*"], CHECK_SINGLE_STREAMS.name: ["db1=jobs", "gone"]}
    )
    record, rounds = _walk(node, server)
    assert {(db, name) for db, name, _ in record.streams} == {
        ("db0", "events:a"),
        ("db0", "events:empty"),
        ("db1", "jobs"),
    }
    assert record.why == "" and server.wrong == []
    scans = [c for r in rounds for c in r if c[0] == "SCAN"]
    assert scans == [("SCAN", "0", "MATCH", "events:*", "COUNT", BATCH.default, "TYPE", "stream")]


def test_past_the_cap_streams_are_left_out_and_truncated_says_why() -> None:
    server = FakeServer()
    for i in range(5):
        server.stream(0, f"s:{i}".encode(), STREAM_62, [])
    # All five on SCAN's one page: the pattern's last page, yet three are left out, so it
    # counts as not fully expanded.
    record, _ = _walk(_node({CHECK_STREAMS.name: ["s:*"], MAX_STREAMS.name: 2}), server)
    assert [name for _, name, _ in record.streams] == ["s:0", "s:1"]
    assert record.why == (
        "patterns db0=s:* not fully expanded: its cap of 2 streams (--check-streams-max)"
    )
    assert _truncated(record) == 1
    # Two a page: the cap is passed with pages still to come, and the pattern is cut.
    values: dict[str, object] = {CHECK_STREAMS.name: ["s:*"], MAX_STREAMS.name: 2, BATCH.name: 2}
    record, _ = _walk(_node(values), server)
    assert len(record.streams) == 2
    assert record.why == (
        "patterns db0=s:* not fully expanded: its cap of 2 streams (--check-streams-max)"
    )
    assert _truncated(record) == 1
    record, _ = _walk(_node({CHECK_STREAMS.name: ["s:*"], MAX_STREAMS.name: 5}), server)
    assert len(record.streams) == 5 and record.why == "" and _truncated(record) == 0


def test_named_streams_left_unread_at_the_budget_are_truncated_too() -> None:
    server = FakeServer()
    server.stream(0, b"orders", STREAM_7, GROUPS_7, billing=CONSUMERS_VALKEY, audit=[])
    node = _node({CHECK_SINGLE_STREAMS.name: ["orders"]})
    record, _ = _walk(node, server, out_of_time_after=1)  # TYPE sent, then out of time
    assert record.streams == ()
    assert record.why == "streams left out: its time budget of 1s (--check-streams-budget)"
    assert _truncated(record) == 1


def test_nothing_configured_or_a_role_spared_walks_nothing() -> None:
    assert start(_node({}), None) is None
    named = {CHECK_SINGLE_STREAMS.name: ["orders"], ON.name: "replicas"}
    assert start(_node(named, "master"), None) is None
    assert start(_node(named, "slave"), None) is not None


def _text(record: StreamsRecord) -> str:
    snap = NodeSnapshot("n", "data", up=True, polls=2, records={StreamsRecord: record})
    builder = FamilyBuilder("n")
    SOURCE.add_families(snap, builder)
    packed = builder.packed()
    lines = []
    for i, (name, mtype, help_text) in enumerate(packed.layout):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {mtype}"]
        lines.append(packed.blob[packed.offsets[i] : packed.offsets[i + 1]].decode().rstrip("\n"))
    return "\n".join(lines) + "\n"


def _truncated(record: StreamsRecord) -> float:
    (series,) = [s for s in parse_series(_text(record)) if "truncated" in s.name]
    return series.value


def _series(text: str) -> dict[tuple[str, ...], float]:
    return {(s.name, *s.labels.values()): s.value for s in parse_series(text)}


def test_every_series_has_redis_exporters_name_type_and_labels() -> None:
    server = FakeServer()
    server.stream(0, b"orders", STREAM_7, GROUPS_7, billing=CONSUMERS_VALKEY, audit=[])
    server.stream(0, b"old", STREAM_62, GROUPS_62, billing=[])
    record, _ = _walk(_node({CHECK_SINGLE_STREAMS.name: ["orders", "old"]}), server)
    text = _text(record)
    on, billing = ("n", "db0", "orders"), ("n", "db0", "orders", "billing")
    assert _series(text) == {
        ("redis_stream_length", *on): 2,
        ("redis_stream_radix_tree_keys", *on): 1,
        ("redis_stream_radix_tree_nodes", *on): 2,
        ("redis_stream_last_generated_id", *on): 1700000000002,
        ("redis_stream_groups", *on): 2,
        ("redis_stream_first_entry_id", *on): 1700000000000,
        ("redis_stream_last_entry_id", *on): 1700000000002,
        ("redis_stream_max_deleted_entry_id", *on): 1700000000001,
        ("redis_stream_entries_added_total", *on): 3,
        ("redis_stream_group_consumers", *billing): 2,
        ("redis_stream_group_messages_pending", *billing): 2,
        ("redis_stream_group_last_delivered_id", *billing): 1700000000002,
        ("redis_stream_group_entries_read", *billing): 3,
        ("redis_stream_group_lag", *billing): 0,
        ("redis_stream_group_consumer_messages_pending", *billing, "alice"): 1,
        ("redis_stream_group_consumer_idle_seconds", *billing, "alice"): 2.5,
        ("redis_stream_group_consumer_messages_pending", *billing, "bob"): 1,
        ("redis_stream_group_consumer_idle_seconds", *billing, "bob"): 0.003,
        # audit's nil entries-read and lag have no sample
        ("redis_stream_group_consumers", *on, "audit"): 0,
        ("redis_stream_group_messages_pending", *on, "audit"): 0,
        ("redis_stream_group_last_delivered_id", *on, "audit"): 0,
        # Redis 6.2: no max-deleted-entry-id, entries-added, entries-read or lag
        ("redis_stream_length", "n", "db0", "old"): 1,
        ("redis_stream_radix_tree_keys", "n", "db0", "old"): 1,
        ("redis_stream_radix_tree_nodes", "n", "db0", "old"): 2,
        ("redis_stream_last_generated_id", "n", "db0", "old"): 1600000000000,
        ("redis_stream_groups", "n", "db0", "old"): 0,
        ("redis_stream_first_entry_id", "n", "db0", "old"): 1600000000000,
        ("redis_stream_last_entry_id", "n", "db0", "old"): 1600000000000,
        ("redis_stream_group_consumers", "n", "db0", "old", "billing"): 1,
        ("redis_stream_group_messages_pending", "n", "db0", "old", "billing"): 1,
        ("redis_stream_group_last_delivered_id", "n", "db0", "old", "billing"): 1600000000000,
        ("redis_exporter_streams_truncated", "n"): 0,
    }
    found = index(text)
    assert found["redis_stream_entries_added_total"][0] == "counter"
    assert found["redis_stream_group_consumer_idle_seconds"] == (
        "gauge",
        {"instance", "db", "stream", "group", "consumer"},
    )
    assert {t for name, (t, _) in found.items() if name != "redis_stream_entries_added_total"} == {
        "gauge"
    }


def test_excluded_consumers_have_no_series_and_no_xinfo_consumers() -> None:
    server = FakeServer()
    server.stream(0, b"orders", STREAM_7, GROUPS_7, billing=CONSUMERS_VALKEY, audit=[])
    node = _node({CHECK_SINGLE_STREAMS.name: ["orders"], EXCLUDE_CONSUMERS.name: True})
    record, rounds = _walk(node, server)
    assert not [c for r in rounds for c in r if c[:2] == ("XINFO", "CONSUMERS")]
    names = {s.name for s in parse_series(_text(record))}
    assert "redis_stream_group_lag" in names
    assert not {n for n in names if n.startswith("redis_stream_group_consumer_")}


_ANY = st.one_of(REPLIES, st.text(max_size=20).map(ReplyError))
_FIELDS = st.sampled_from(
    [b"length", b"groups", b"first-entry", b"last-generated-id", b"name", b"lag", b"idle"]
)
# Flat arrays of the fields the parsers look for, with any values: these reach the later steps.
_SHAPED = st.lists(st.tuples(_FIELDS, _ANY), max_size=6).map(
    lambda pairs: [x for pair in pairs for x in pair]
)
_REPLY = st.one_of(_ANY, st.just(b"stream"), _SHAPED, st.lists(_SHAPED, max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.booleans(), st.booleans(), st.data())
def test_no_reply_makes_a_stream_task_raise(
    named: bool, consumers: bool, data: st.DataObject
) -> None:
    task = stream_task(b"orders", named, consumers)
    try:
        commands = next(task)
        for _ in range(4):
            replies = data.draw(st.lists(_REPLY, min_size=len(commands), max_size=len(commands)))
            commands = task.send(replies)
    except StopIteration as done:
        result = done.value
        assert result is None or isinstance(result, Stream)
        if result is not None:
            _text(StreamsRecord((("db0", "orders", result),)))
    else:
        raise AssertionError("a stream's work is at most three steps")
