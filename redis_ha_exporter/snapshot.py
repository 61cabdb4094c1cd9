"""Immutable records of what one poll of one node returned, replaced whole after each poll.

Each source under `sources/` fills one record type declared here; a snapshot holds them keyed
by type, so `snap.get(SlowlogRecord)` is typed and a new source needs no new snapshot field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

NodeKind = Literal["data", "sentinel", "unknown"]
InfoSections = Mapping[str, Mapping[str, str]]
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class InfoRecord:
    """INFO as `section -> field -> raw value`."""

    sections: InfoSections

    def field(self, name: str, default: str = "") -> str:
        """A field from whichever section holds it."""
        for fields in self.sections.values():
            if name in fields:
                return fields[name]
        return default


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """The few CONFIG parameters we read (never `CONFIG GET *`, which holds secrets)."""

    values: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class LatencyEvent:
    name: str
    timestamp: int
    latest_ms: int


@dataclass(frozen=True, slots=True)
class LatencyRecord:
    events: tuple[LatencyEvent, ...]


@dataclass(frozen=True, slots=True)
class SlowlogEntry:
    id: int
    timestamp: int
    duration_us: int
    command: str


@dataclass(frozen=True, slots=True)
class SlowlogRecord:
    """The slowlog as last read, and cumulative per-command counts since the exporter started.

    `last_id` is None before the first poll. `gap_known` is False while we cannot tell how
    many ids lie between the last one seen and the next (the log was empty when we looked).
    """

    length: int | None = None
    newest: SlowlogEntry | None = None
    last_id: int | None = None
    gap_known: bool = False
    run_id: str = ""
    entries: Mapping[str, int] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)
    missed: int = 0


@dataclass(frozen=True, slots=True)
class SentinelGroupView:
    """What one Sentinel says about one monitored master."""

    name: str
    master: Mapping[str, str]
    replicas: tuple[Mapping[str, str], ...]
    sentinels: tuple[Mapping[str, str], ...]
    ckquorum_ok: bool
    ckquorum_message: str

    @property
    def master_address(self) -> str:
        return f"{self.master.get('ip', '')}:{self.master.get('port', '')}"


@dataclass(frozen=True, slots=True)
class SentinelRecord:
    """A Sentinel's own id (`SENTINEL MYID`, "" before 6.2) and its view of each group."""

    myid: str
    groups: tuple[SentinelGroupView, ...]


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """The latest poll of a node. Records hold the last *successful* poll's values.

    `refused` names the sources the node refused on the current connection (NOPERM, unknown
    or renamed command); they are skipped until it reconnects.
    """

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
    version: tuple[int, ...] = ()
    refused: frozenset[str] = frozenset()
    records: Mapping[type, object] = field(default_factory=dict)

    def get(self, kind: type[R]) -> R | None:
        record = self.records.get(kind)
        return record if isinstance(record, kind) else None

    @property
    def info(self) -> InfoSections:
        record = self.get(InfoRecord)
        return record.sections if record is not None else {}

    @property
    def sentinel_groups(self) -> tuple[SentinelGroupView, ...]:
        record = self.get(SentinelRecord)
        return record.groups if record is not None else ()

    @property
    def role(self) -> str:
        """`master`, `slave`, or "" for a Sentinel or a node never reached."""
        return self.info.get("replication", {}).get("role", "")

    @property
    def identity(self) -> str:
        """What makes a server the same under two names: a data node's `run_id`, a
        Sentinel's `myid` (the id other Sentinels list it under); "" until known."""
        if self.kind == "sentinel":
            record = self.get(SentinelRecord)
            return record.myid if record is not None else ""
        info = self.get(InfoRecord)
        return info.field("run_id") if info is not None and self.kind == "data" else ""

    @property
    def polled(self) -> bool:
        return self.polls > 0


@dataclass(frozen=True, slots=True)
class Failover:
    """A failover the exporter saw: when, and the master before and after."""

    at: float
    old_master: str
    new_master: str
    epoch: int


@dataclass(frozen=True, slots=True)
class GroupState:
    """The exporter's own record of one Sentinel group across polls; `history` holds the
    latest failovers seen, oldest first."""

    name: str
    failovers: int = 0
    config_epoch: int | None = None
    last_failover_at: float | None = None
    master_address: str = ""
    history: tuple[Failover, ...] = ()
