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
from redis_ha_exporter.sources.base import NodeView, PollOptions
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
    source = draw(st.sampled_from(sources.ALL))
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
