"""Every source's parser and renderer take whatever a server (or something pretending to be one)
sends without raising: arbitrary bytes, numbers, nil, nested arrays and error replies in any
position but the first (the poll handles that one)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from redis_ha_exporter import sources
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import NodeView, PollOptions, Run, no_parse
from redis_ha_exporter.wire import ReplyError

_SCALARS = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [b"", b"name", b"ip", b"port", b"flags", b"calls=1,usec=2", b"12", b"-1", b"1.5", b"\r\n"]
    ),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none(),
)
REPLIES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=8), max_leaves=40
)
_INFO_TEXT = st.lists(
    st.sampled_from(
        [*"abc_:,=#\r\n 0123456789.-", "master0:", "slave0:", "db0:", "role:", "# Sentinel"]
    ),
    max_size=120,
).map(lambda parts: "".join(parts).encode())
_ERRORS = st.text(max_size=30).map(ReplyError)


@st.composite
def _polls(draw: st.DrawFn) -> tuple[Any, NodeView, list[Any]]:
    source = draw(st.sampled_from([s for s in sources.ALL if s.parse is not no_parse]))
    kind = draw(st.sampled_from(sorted(source.kinds)))
    version = draw(st.sampled_from([(6, 2), (7, 0), (8, 0)]))
    node = NodeView("127.0.0.1:6379", kind, version, polls=draw(st.integers(0, 3)))
    node = NodeView(node.instance, kind, version, node.polls, PollOptions(), run_id="r")
    wanted = len(source.commands(node, None)) + draw(st.integers(0, 4))
    first = draw(st.one_of(_INFO_TEXT, REPLIES))
    rest = draw(st.lists(st.one_of(REPLIES, _ERRORS), min_size=wanted, max_size=wanted))
    return source, node, [first, *rest]


@settings(max_examples=400, deadline=None)
@given(_polls())
def test_no_source_raises_on_any_reply(case: tuple[Any, NodeView, list[Any]]) -> None:
    source, node, replies = case
    record = source.parse(node, None, replies)
    again = source.parse(node, record, replies)  # and against a previous record
    snap = NodeSnapshot(
        node.instance,
        node.kind,
        up=True,
        polls=2,
        last_success_at=1.0,
        records={source.record: again},
    )
    builder = FamilyBuilder(node.instance)
    source.add_families(snap, builder)
    source.more(node, record, replies)
    builder.packed()


WALKS = [s for s in sources.ALL if s.walk is not None]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(WALKS),
    st.sampled_from(["master", "slave"]),
    st.data(),
)
def test_no_walk_raises_on_any_reply(source: Any, role: str, data: st.DataObject) -> None:
    options = PollOptions(sources.examples())
    node = NodeView("127.0.0.1:6379", "data", (7, 0), 3, options, role=role, keyspace={"db0": 9})
    walk = source.walk
    state = walk.start(node, None)
    if state is None:  # the example options make every walk run, but Celery's on masters only
        assert source.name in ("celery", "celery-results") and role == "slave"
        return
    state, commands = walk.step(node, state, ())
    rounds = 0
    while commands and rounds < 6:
        replies = data.draw(
            st.lists(st.one_of(REPLIES, _ERRORS), min_size=len(commands), max_size=len(commands))
        )
        state, commands = walk.step(node, state, replies)
        rounds += 1
    record = walk.finish(node, None, state, Run(0.1, rounds, 0, "its budget" if commands else ""))
    walk.stopped(record)
    snap = NodeSnapshot(node.instance, "data", up=True, polls=2, records={source.record: record})
    builder = FamilyBuilder(node.instance)
    source.add_families(snap, builder)
    builder.packed()
