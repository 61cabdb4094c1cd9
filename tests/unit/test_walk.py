"""redis_ha_exporter.walk: with nothing to walk, a node's snapshot is handed back as it is (the
poller then publishes and renders it once per poll, not twice); a dropped setting drops its
record."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis_ha_exporter import sources
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import Command, PollOptions, Reply, Run
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
    runs = {"check-keys": (Run(0.1, 1, 3, False), "")}
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
