"""The generic, immutable result of one poll of one node, replaced whole after each poll, and
the exporter's own record of each Sentinel group.

Each source under `sources/` declares its own record type; a snapshot holds them keyed by type,
so `snap.get(SlowlogRecord)` is typed and a new source needs no new snapshot field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

NodeKind = Literal["data", "sentinel", "unknown"]
# How the error of a node whose credentials were refused starts (poller.describe_error): the
# exporter's configuration, not the node, is wrong, which /ready reports.
AUTH_FAILED = "authentication failed"
InfoSections = Mapping[str, Mapping[str, str]]
R = TypeVar("R")


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
    version: tuple[int, ...] = ()  # redis_version, which Valkey keeps at 7.2.4
    valkey: tuple[int, ...] = ()  # valkey_version; () on Redis
    # `master`, `slave`, or "" for a Sentinel or a node never reached (from INFO).
    role: str = ""
    # What makes a server the same under two names: a data node's `run_id`, a Sentinel's
    # `myid` (the id other Sentinels list it under); "" until known.
    identity: str = ""
    refused: frozenset[str] = frozenset()
    # Times its identity changed while it kept its address: a restart (new run_id).
    restarts: int = 0
    records: Mapping[type, object] = field(default_factory=dict)

    def get(self, kind: type[R]) -> R | None:
        record = self.records.get(kind)
        return record if isinstance(record, kind) else None

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
