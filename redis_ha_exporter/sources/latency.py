"""LATENCY LATEST: the latest spike of each latency event the server monitors.

redis_latency_spike_last{event_name="command",instance="10.0.0.1:6379"} 1.7e+09
redis_latency_spike_duration_seconds{event_name="command",instance="10.0.0.1:6379"} 0.25
redis_latency_spikes_total{event_name="command",instance="10.0.0.1:6379"} 3  (Valkey 8.1+)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.replies import decode, to_int
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Command, NodeView, Reply, Source

LATENCY_SPIKE_LAST = metric(
    "latency_spike_last", "gauge", "Unix time of the latest latency spike per event."
)
LATENCY_SPIKE_DURATION = metric(
    "latency_spike_duration_seconds",
    "gauge",
    "Duration of the latest latency spike per event, in seconds.",
)

LATENCY_SPIKES = metric(
    "latency_spikes_total",
    "counter",
    "Latency spikes recorded per event since the server started or LATENCY RESET (Valkey 8.1+).",
)
LATENCY_SPIKES_DURATION = metric(
    "latency_spikes_duration_seconds_total",
    "counter",
    "Total duration of the latency spikes recorded per event, in seconds (Valkey 8.1+).",
)


@dataclass(frozen=True, slots=True)
class LatencyEvent:
    name: str
    timestamp: int
    latest_ms: int
    # Valkey 8.1+: every spike's total milliseconds and how many there were; None on Redis.
    sum_ms: int | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class LatencyRecord:
    events: tuple[LatencyEvent, ...]


def parse_latency(reply: Any) -> tuple[LatencyEvent, ...]:
    # Valkey 8 appends sum and count columns to Redis 7.0's four; the first three are shared.
    events = []
    if isinstance(reply, (list, tuple)):
        for item in reply:
            if isinstance(item, (list, tuple)) and len(item) >= 3:
                ts, latest = to_int(item[1]), to_int(item[2])
                if ts is None or latest is None:
                    continue
                total, count = (
                    (to_int(item[4]), to_int(item[5])) if len(item) >= 6 else (None, None)
                )
                if total is None or count is None:
                    total = count = None
                events.append(LatencyEvent(decode(item[0]), ts, latest, total, count))
    return tuple(events)


def commands(node: NodeView, prev: LatencyRecord | None) -> Sequence[Command]:
    return [("LATENCY", "LATEST")]


def parse(node: NodeView, prev: LatencyRecord | None, replies: Sequence[Reply]) -> LatencyRecord:
    return LatencyRecord(parse_latency(replies[0]))


def families(snap: NodeSnapshot, record: LatencyRecord, b: FamilyBuilder) -> None:
    for event in record.events:
        b.add(LATENCY_SPIKE_LAST, event.timestamp, event_name=event.name)
        b.add(LATENCY_SPIKE_DURATION, event.latest_ms / 1e3, event_name=event.name)
        if event.count is not None and event.sum_ms is not None:
            b.add(LATENCY_SPIKES, event.count, event_name=event.name)
            b.add(LATENCY_SPIKES_DURATION, event.sum_ms / 1e3, event_name=event.name)


SOURCE = Source(
    "latency",
    LatencyRecord,
    DATA,
    commands,
    parse,
    families,
    metrics=declared(globals()),
    acl=("+latency|latest",),
)
