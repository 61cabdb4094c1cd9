"""Immutable records of what one poll of one node returned, replaced whole after each poll."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from exporter.sources.info import InfoSections
from exporter.sources.node import LatencyEvent
from exporter.sources.sentinel import SentinelGroupView
from exporter.sources.slowlog import SlowlogEntry, SlowlogTally

NodeKind = Literal["data", "sentinel", "unknown"]


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """The latest poll of a node. Data fields hold the last *successful* poll's values."""

    instance: str
    kind: NodeKind
    groups: tuple[str, ...] = ()
    up: bool = False
    error: str = ""
    polled_at: float = 0.0  # unix time the poll finished
    duration: float = 0.0
    connect_time: float = 0.0
    last_success_at: float | None = None
    polls: int = 0
    poll_seconds_total: float = 0.0
    info: InfoSections = field(default_factory=dict)
    config: Mapping[str, str] = field(default_factory=dict)
    slowlog_len: int | None = None
    slowlog_newest: SlowlogEntry | None = None
    slowlog: SlowlogTally = field(default_factory=SlowlogTally)
    latency: tuple[LatencyEvent, ...] | None = None
    sentinel_groups: tuple[SentinelGroupView, ...] = ()

    @property
    def role(self) -> str:
        """`master`, `slave`, or "" for a Sentinel or a node never reached."""
        return self.info.get("replication", {}).get("role", "")

    @property
    def polled(self) -> bool:
        return self.polls > 0


@dataclass(frozen=True, slots=True)
class GroupState:
    """The exporter's own record of one Sentinel group across polls."""

    name: str
    failovers: int = 0
    config_epoch: int | None = None
    last_failover_at: float | None = None
    master_address: str = ""
