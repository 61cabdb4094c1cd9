"""redis_ha_exporter.walk: with nothing to walk, a node's snapshot is handed back as it is (the
poller then publishes and renders it once per poll, not twice); a dropped setting drops its
record."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from redis_ha_exporter import sources
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import (
    DATA,
    Command,
    NodeView,
    PollOptions,
    Reply,
    Run,
    Setting,
    Source,
    Walk,
    no_commands,
    no_parse,
)
from redis_ha_exporter.sources.keys import KeysRecord
from redis_ha_exporter.sources.walks import WalkRecord
from redis_ha_exporter.walk import walk


class Unused:
    async def roundtrip(self, commands: Sequence[Command]) -> list[Reply]:
        raise AssertionError(f"nothing should be sent: {commands}")


def _walk(snap: NodeSnapshot) -> NodeSnapshot:
    return asyncio.run(walk(Unused(), snap, sources.ALL, PollOptions(), 1e12, 1.0))


def test_a_node_without_walks_gets_its_snapshot_back_unchanged() -> None:
    snap = NodeSnapshot("n", "data", up=True, polls=3, role="master")
    assert _walk(snap) is snap


def test_a_walk_no_longer_configured_drops_its_record_and_cost() -> None:
    record = KeysRecord((("db0", "k", 1, None),))
    runs = {"check-keys": (Run(0.1, 1, 3), "")}
    snap = NodeSnapshot(
        "n",
        "data",
        up=True,
        polls=3,
        role="master",
        records={KeysRecord: record, WalkRecord: WalkRecord(runs)},
    )
    after = _walk(snap)
    assert after is not snap
    assert after.get(KeysRecord) is None and after.get(WalkRecord) is None


@dataclass(frozen=True, slots=True)
class _Record:
    value: int


def _start(node: NodeView, prev: _Record | None) -> list[int]:
    return []


def _step(
    node: NodeView, state: list[int], replies: Sequence[Reply]
) -> tuple[list[int], list[Command]]:
    if replies:
        raise TypeError("a reply of a shape this source did not expect")
    return state, [("PING",)]


def _finish(node: NodeView, prev: _Record | None, state: list[int], run: Run) -> _Record:
    return _Record(1)


_BUDGET = Setting("fake_budget", float, 1.0, "--fake-budget", (), "")
BROKEN = Source(
    "broken",
    _Record,
    DATA,
    no_commands,
    no_parse,
    lambda snap, record, b: None,
    walk=Walk(_BUDGET, _start, _step, _finish, lambda record: ""),
)


class Pong:
    async def roundtrip(self, commands: Sequence[Command]) -> list[Reply]:
        return [b"PONG"] * len(commands)


def test_a_source_that_raises_on_a_reply_keeps_its_record_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    snap = NodeSnapshot("n", "data", up=True, polls=3, records={_Record: _Record(7)})
    for _ in range(3):
        snap = asyncio.run(walk(Pong(), snap, [BROKEN], PollOptions(), 1e12, 1.0))
    assert snap.get(_Record) == _Record(7)
    record = snap.get(WalkRecord)
    assert record is not None and "TypeError" in record.runs["broken"][1]
    lines = [r.getMessage() for r in caplog.records if "did not expect" in r.getMessage()]
    assert lines == [
        "node n: broken failed on a reply it did not expect (TypeError); its last figures are kept"
    ]
