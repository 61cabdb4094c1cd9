"""The store's view as one JSON-able document: the body of `GET /api/topology` and the data the
status page `/` draws, so the page and the API never disagree. Pure: `now` comes from the caller.

    {"generated_at": 1800000000.0,
     "groups": [{"name": "mymaster", "master": "10.0.0.1:6379", "sentinel_master": "10.0.0.1:6379",
                 "agreement": true, "failovers": 1, "last_failover_at": 1799999990.0,
                 "history": [{"at": 1799999990.0, "from": "10.0.0.2:6379",
                              "to": "10.0.0.1:6379", "epoch": 2}],
                 "replicas": [{"instance": "10.0.0.2:6379", "up": true,
                               "replicates": "10.0.0.1:6379", "link": "up",
                               "sync_state": "online", "lag_bytes": 0, "lag_seconds": 0}],
                 "sentinels": [{"instance": "10.0.0.10:26379", "up": true,
                                "names_master": "10.0.0.1:6379"}]}],
     "nodes": [{"instance": "10.0.0.1:6379", "kind": "data", "role": "master",
                "groups": ["mymaster"], "up": true, "polled": true, "error": "",
                "refused": [], "last_poll_age_seconds": 0.4, "memory_used_bytes": 1448840,
                "maxmemory_bytes": 67108864, "system_memory_bytes": 25276063744,
                "ops_per_sec": 30, "connected_clients": 3}]}

`master` is the answering data node of the group with `role:master`, as the exporter sees it:
one address, a list when several answer as master (split brain), null when none does.
Node figures are those of the node's last successful poll (null before one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict

from redis_ha_exporter.replies import to_int
from redis_ha_exporter.snapshot import GroupState, NodeSnapshot
from redis_ha_exporter.sources.info import InfoRecord
from redis_ha_exporter.sources.sentinel import master_views
from redis_ha_exporter.store import StoreView

# "from" is a keyword, hence the functional form.
HistoryEntry = TypedDict("HistoryEntry", {"at": float, "from": str, "to": str, "epoch": int})


class ReplicaEntry(TypedDict):
    instance: str
    up: bool
    replicates: str  # the master it follows, from its own INFO; "" when unknown
    link: str  # its master_link_status: "up", "down"; "" when unknown
    sync_state: str  # its state in the master's INFO: "online", "wait_bgsave", ...; "" unknown
    lag_bytes: int | None  # master_repl_offset minus its offset in the master's slaveN line
    lag_seconds: int | None  # seconds since its last ack, from the same line


class SentinelEntry(TypedDict):
    instance: str
    up: bool
    names_master: str | None  # None while it does not answer


class GroupEntry(TypedDict):
    name: str
    master: str | list[str] | None
    sentinel_master: str
    agreement: bool
    failovers: int
    last_failover_at: float | None
    history: list[HistoryEntry]  # oldest first
    replicas: list[ReplicaEntry]
    sentinels: list[SentinelEntry]


class NodeEntry(TypedDict):
    instance: str
    kind: str
    role: str
    groups: list[str]
    up: bool
    polled: bool
    error: str
    refused: list[str]  # the command families it refuses (their series are missing)
    last_poll_age_seconds: float | None
    memory_used_bytes: int | None
    maxmemory_bytes: int | None  # 0 means no limit
    system_memory_bytes: int | None
    ops_per_sec: int | None
    connected_clients: int | None


class Status(TypedDict):
    generated_at: float
    groups: list[GroupEntry]
    nodes: list[NodeEntry]


_Link = tuple[str, int | None, int | None]  # sync state, lag bytes, lag seconds


def _links(masters: Iterable[NodeSnapshot]) -> dict[str, _Link]:
    """Replica address -> how the masters' INFO sees it (state, lag bytes, lag seconds)."""
    out: dict[str, _Link] = {}
    for master in masters:
        info = master.get(InfoRecord)
        for replica in info.replicas if info is not None else ():
            out[replica.address] = (replica.state, replica.lag_bytes, replica.lag)
    return out


def _replica(snap: NodeSnapshot, links: Mapping[str, _Link]) -> ReplicaEntry:
    info = snap.get(InfoRecord)
    link = info.master if info is not None else None
    state, lag_bytes, lag_seconds = links.get(snap.instance, ("", None, None))
    return {
        "instance": snap.instance,
        "up": snap.up,
        "replicates": link.address if link is not None else "",
        "link": link.status if link is not None and snap.up else "",
        "sync_state": state,
        "lag_bytes": lag_bytes,
        "lag_seconds": lag_seconds,
    }


def _group(state: GroupState, members: list[NodeSnapshot]) -> GroupEntry:
    data = sorted((s for s in members if s.kind == "data"), key=lambda s: s.instance)
    masters = [s for s in data if s.up and s.role == "master"]
    views = master_views(state.name, members)
    links = _links(masters)
    addresses = [m.instance for m in masters]
    return {
        "name": state.name,
        "master": addresses[0] if len(addresses) == 1 else (addresses or None),
        "sentinel_master": state.master_address,
        "agreement": len(set(views.values())) == 1,
        "failovers": state.failovers,
        "last_failover_at": state.last_failover_at,
        "history": [
            {"at": f.at, "from": f.old_master, "to": f.new_master, "epoch": f.epoch}
            for f in state.history
        ],
        "replicas": [_replica(s, links) for s in data if s not in masters],
        "sentinels": [
            {"instance": s.instance, "up": s.up, "names_master": views.get(s.instance)}
            for s in sorted(members, key=lambda s: s.instance)
            if s.kind == "sentinel"
        ],
    }


def _node(snap: NodeSnapshot, now: float) -> NodeEntry:
    info = snap.get(InfoRecord)
    fields = info.fields if info is not None else {}
    return {
        "instance": snap.instance,
        "kind": snap.kind,
        "role": snap.role,
        "groups": list(snap.groups),
        "up": snap.up,
        "polled": snap.polled,
        "error": snap.error,
        "refused": sorted(name.upper() for name in snap.refused),
        "last_poll_age_seconds": round(max(now - snap.polled_at, 0.0), 3) if snap.polled else None,
        "memory_used_bytes": to_int(fields.get("used_memory")),
        "maxmemory_bytes": to_int(fields.get("maxmemory")),
        "system_memory_bytes": to_int(fields.get("total_system_memory")),
        "ops_per_sec": to_int(fields.get("instantaneous_ops_per_sec")),
        "connected_clients": to_int(fields.get("connected_clients")),
    }


def status(view: StoreView, now: float) -> Status:
    """Every Sentinel group (by name) and every node (by instance) as of `now`."""
    nodes = sorted(view.nodes.values(), key=lambda s: s.instance)
    return {
        "generated_at": now,
        "groups": [
            _group(view.groups[name], [s for s in nodes if name in s.groups])
            for name in sorted(view.groups)
        ],
        "nodes": [_node(s, now) for s in nodes],
    }
