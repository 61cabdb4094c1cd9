"""The latest snapshot of every node and the state of every Sentinel group.

Snapshots are replaced whole, so a concurrent scrape never sees half a poll; `generation`
changes with every replacement so renderers know when their cache is out of date.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from redis_ha_exporter.snapshot import AUTH_FAILED, GroupState, NodeSnapshot


class StoreView(Protocol):
    """The read-only side of the store, all that the web layer sees."""

    @property
    def nodes(self) -> Mapping[str, NodeSnapshot]: ...

    @property
    def groups(self) -> Mapping[str, GroupState]: ...

    @property
    def unexported(self) -> frozenset[str]: ...

    @property
    def discovery(self) -> DiscoveryLimits: ...

    @property
    def reload(self) -> ReloadState: ...

    def not_ready(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class DiscoveryLimits:
    """What discovery left out: per group the nodes outside --discovery-allow, and the count
    of nodes beyond --max-nodes."""

    rejected: Mapping[str, int] = field(default_factory=dict)
    capped: int = 0


@dataclass(frozen=True, slots=True)
class ReloadState:
    """Whether the last reload of the configuration worked, and when one last did (start-up
    counts as the first)."""

    successful: bool = True
    at: float = field(default_factory=time.time)


class Store:
    def __init__(self, interval: float, stale_after_intervals: float = 3.0) -> None:
        self.interval = interval
        self._stale_intervals = stale_after_intervals
        self._nodes: dict[str, NodeSnapshot] = {}
        self._groups: dict[str, GroupState] = {}
        self.generation = 0
        self.expected: frozenset[str] = frozenset()
        self._unexported: frozenset[str] = frozenset()
        self._discovery = DiscoveryLimits()
        self._reload = ReloadState()
        self._ready = False
        # The --sentinel-addr seeds: with any, one must answer as a Sentinel to be ready.
        self.seeds: frozenset[str] = frozenset()

    @property
    def stale_after(self) -> float:
        """Seconds after which a node's data is too old to export: a few intervals."""
        return self.interval * self._stale_intervals

    @property
    def nodes(self) -> Mapping[str, NodeSnapshot]:
        return self._nodes

    @property
    def groups(self) -> Mapping[str, GroupState]:
        return self._groups

    @property
    def unexported(self) -> frozenset[str]:
        """Instances polled but not exported: with sharding, the Sentinels this shard polls
        for discovery while another shard exports their series."""
        return self._unexported

    @unexported.setter
    def unexported(self, instances: frozenset[str]) -> None:
        if instances != self._unexported:
            self._unexported = instances
            self.generation += 1

    @property
    def discovery(self) -> DiscoveryLimits:
        return self._discovery

    @discovery.setter
    def discovery(self, limits: DiscoveryLimits) -> None:
        if limits != self._discovery:
            self._discovery = limits
            self.generation += 1

    @property
    def reload(self) -> ReloadState:
        return self._reload

    @reload.setter
    def reload(self, state: ReloadState) -> None:
        self._reload = state
        self.generation += 1

    def put(self, snap: NodeSnapshot) -> None:
        self._nodes[snap.instance] = snap
        self.generation += 1

    def remove(self, instance: str) -> None:
        if self._nodes.pop(instance, None) is not None:
            self.generation += 1

    def set_groups(self, groups: Mapping[str, GroupState]) -> None:
        if groups != self._groups:
            self._groups = dict(groups)
            self.generation += 1

    def is_fresh(self, snap: NodeSnapshot, now: float) -> bool:
        """Data older than the stale limit is dropped so Prometheus marks it stale."""
        return snap.last_success_at is not None and now - snap.last_success_at <= self.stale_after

    def ready(self) -> bool:
        """Every node known at start-up has been polled at least once (up or down).

        It stays ready afterwards: a node discovered later, before its first poll, is no
        reason to take the exporter out of a load balancer.
        """
        if not self._ready:
            self._ready = all(
                instance in self._nodes and self._nodes[instance].polled
                for instance in self.expected
            )
        return self._ready

    def not_ready(self) -> list[str]:
        """Why a readiness probe should fail, one line per reason; none when ready.

        Ready means the exporter can do its job with its configuration: every node known at
        start-up was polled once; no node refuses its credentials (the configuration is
        wrong, not the node); and with --sentinel-addr, one of them answers as a Sentinel
        (else no topology is followed). A data node that is down is not a reason: reporting
        `redis_up 0` for it is the exporter's job.
        """
        if not self.ready():
            return ["some nodes have not been polled yet"]
        out = [
            f"node {snap.instance}: {snap.error}"
            for snap in sorted(self._nodes.values(), key=lambda s: s.instance)
            if not snap.up and snap.error.startswith(AUTH_FAILED)
        ]
        if self.seeds:
            seeds = [(i, self._nodes.get(i)) for i in sorted(self.seeds)]
            if not any(s is not None and s.up and s.kind == "sentinel" for _, s in seeds):
                out += [
                    f"no --sentinel-addr answers as a Sentinel: {_seed(i, s)}" for i, s in seeds
                ]
        return out


def _seed(instance: str, snap: NodeSnapshot | None) -> str:
    if snap is None or not snap.polled:
        return f"{instance} not polled yet"
    if not snap.up:
        return f"{instance} is down: {snap.error}"
    role = {"slave": "replica"}.get(snap.role, snap.role) or "unknown role"
    return f"{instance} is not a Sentinel but a data node ({role})"
