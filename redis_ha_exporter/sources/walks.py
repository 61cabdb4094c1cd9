"""What each walk (key checks, Celery, key groups) cost on its last run and whether it stopped
early: the walker fills this record, so every walk reports the same way.

redis_exporter_walk_duration_seconds{source="check-keys",instance="10.0.0.1:6379"} 0.0123
redis_exporter_walk_commands{source="check-keys",instance="10.0.0.1:6379"} 1204
redis_exporter_walk_truncated{source="check-keys",instance="10.0.0.1:6379"} 0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Run, Source, no_commands, no_parse

WALK_SECONDS = metric(
    "exporter_walk_duration_seconds",
    "gauge",
    "Seconds the source's last walk took, its round trips included (it runs after the poll).",
)
WALK_ROUNDS = metric("exporter_walk_round_trips", "gauge", "Round trips of the source's last walk.")
WALK_COMMANDS = metric("exporter_walk_commands", "gauge", "Commands the source's last walk sent.")
WALK_TRUNCATED = metric(
    "exporter_walk_truncated",
    "gauge",
    "1 when the source's last walk stopped early (its time budget or key cap): its figures "
    "cover only part of the keys.",
)


@dataclass(frozen=True, slots=True)
class WalkRecord:
    """Each walked source's last run, by source name, and why it stopped early ("")."""

    runs: Mapping[str, tuple[Run, str]]


def families(snap: NodeSnapshot, record: WalkRecord, b: FamilyBuilder) -> None:
    for name, (run, stopped) in sorted(record.runs.items()):
        b.add(WALK_SECONDS, run.seconds, source=name)
        b.add(WALK_ROUNDS, run.rounds, source=name)
        b.add(WALK_COMMANDS, run.commands, source=name)
        b.add(WALK_TRUNCATED, int(bool(stopped)), source=name)


SOURCE = Source(
    "walks",
    WalkRecord,
    DATA,
    no_commands,
    no_parse,
    families,
    metrics=declared(globals()),
)
