"""One node's snapshot -> its metric families: self-metrics always, each source's families
while the data is fresh.

redis_up{instance="10.0.0.1:6379"} 1
redis_exporter_last_scrape_error{err="",instance="10.0.0.1:6379"} 0
redis_exporter_scrapes_total{instance="10.0.0.1:6379"} 42
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.snapshot import NodeSnapshot


class FamilySource(Protocol):
    """Anything that adds a snapshot's families for one record type (a source)."""

    def add_families(
        self, snap: NodeSnapshot, builder: FamilyBuilder, filled: frozenset[type] = ...
    ) -> None: ...


def node_families(
    snap: NodeSnapshot,
    sources: Iterable[FamilySource],
    *,
    include_data: bool,
    instance: bool = True,
    filled: frozenset[type] = frozenset(),
) -> FamilyBuilder:
    """Families for one node, with its `instance` label unless `instance` is False (`/scrape`).
    `include_data` is False once its data is too old to trust; `filled` names the records
    whose templated families the caller fills from a template."""
    b = FamilyBuilder(snap.instance if instance else None)
    if not snap.polled:
        return b
    b.add(n.UP, 1 if snap.up else 0)
    b.add(n.LAST_SCRAPE_DURATION, snap.duration)
    b.add(n.LAST_SCRAPE_CONNECT, snap.connect_time)
    b.add(n.LAST_SCRAPE_ERROR, 1 if snap.error else 0, err=snap.error)
    b.add(n.LAST_POLL_TIMESTAMP, snap.polled_at)
    b.add(n.SCRAPES, snap.polls)
    b.add(n.SCRAPE_DURATION, snap.poll_seconds_total, "_sum")
    b.add(n.SCRAPE_DURATION, snap.polls, "_count")
    for name in sorted(snap.refused):
        b.add(n.REFUSED, 1, cmd=name.upper())
    if snap.kind == "data":
        b.add(n.RESTARTS, snap.restarts)
    if include_data and snap.last_success_at is not None:
        for source in sources:
            source.add_families(snap, b, filled)
        b.add(n.KEY_GROUPS_DURATION, 0)
    return b
