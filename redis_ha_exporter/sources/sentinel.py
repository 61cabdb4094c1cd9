"""Sentinel: SENTINEL MASTERS, then per followed group REPLICAS, SENTINELS and CKQUORUM, plus
MYID; the sentinel section of its INFO; and our own view of each group across its nodes.

Only commands Sentinel understands are sent, so its error counters never grow because of us.

redis_sentinel_master_ok_slaves{instance="10.0.0.9:26379",master_name="mymaster",...} 2
redis_sentinel_master_ckquorum_status{instance="10.0.0.9:26379",message="OK 3 usable...",...} 1
redis_sentinel_masters{instance="10.0.0.9:26379"} 1
redis_sentinel_group_master_agreement{master_name="mymaster"} 1
redis_sentinel_failovers_total{master_name="mymaster"} 2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from redis_ha_exporter.metrics.model import FamilyBuilder, declared
from redis_ha_exporter.replies import decode, dict_list, parse_kv_list, to_number
from redis_ha_exporter.snapshot import GroupState, NodeSnapshot
from redis_ha_exporter.sources import sentinel_names as n
from redis_ha_exporter.sources.base import SENTINEL, Command, NodeView, Reply, Setting, Source
from redis_ha_exporter.sources.info import InfoRecord

_PER_GROUP = ("REPLICAS", "SENTINELS", "CKQUORUM")

PEER_INFO = Setting(
    "include_sentinel_peer_info",
    bool,
    False,
    "--include-sentinel-peer-info",
    ("REDIS_EXPORTER_INCL_SENTINEL_PEER_INFO",),
    "export `redis_sentinel_peer_info`: one series per other Sentinel of each group, with "
    "its address, run id and flags (a new series whenever a peer restarts or its flags change)",
    metavar="BOOL",
)


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
    peer_info: bool = False  # --include-sentinel-peer-info


def groups_of(snap: NodeSnapshot) -> tuple[SentinelGroupView, ...]:
    """The groups a polled Sentinel reports; none for any other node."""
    record = snap.get(SentinelRecord)
    return record.groups if record is not None else ()


def flags(entry: Mapping[str, str]) -> set[str]:
    return set(entry.get("flags", "").split(","))


def is_down(entry: Mapping[str, str]) -> bool:
    return bool(flags(entry) & {"s_down", "o_down", "disconnected"})


def plain_name(name: str) -> bool:
    """A group name fit for a label, a log line and the status page: no control characters.
    A name with a line break splits the Sentinel's own INFO line about it, so the same group
    would show under two names; such groups are left out everywhere instead."""
    return bool(name) and all(" " <= ch != "\x7f" for ch in name)


def _masters(node: NodeView, reply: Reply) -> list[dict[str, str]]:
    return [
        m
        for m in dict_list(reply)
        if plain_name(m.get("name", "")) and node.options.follows(m["name"])
    ]


def _has_myid(node: NodeView) -> bool:
    return node.version >= (6, 2)  # SENTINEL MYID is unknown to older Sentinels


def commands(node: NodeView, prev: SentinelRecord | None) -> Sequence[Command]:
    out: list[Command] = [("SENTINEL", "MASTERS")]
    if _has_myid(node):
        out.append(("SENTINEL", "MYID"))
    return out


def more(
    node: NodeView, prev: SentinelRecord | None, replies: Sequence[Reply]
) -> Sequence[Command]:
    """Only the groups we follow are asked about (`--sentinel-master`)."""
    return [
        ("SENTINEL", what, master["name"])
        for master in _masters(node, replies[0])
        for what in _PER_GROUP
    ]


def parse(node: NodeView, prev: SentinelRecord | None, replies: Sequence[Reply]) -> SentinelRecord:
    first = 2 if _has_myid(node) else 1
    myid = ""
    if first == 2 and isinstance(replies[1], bytes):
        myid = decode(replies[1])
    views = []
    rest = replies[first:]
    for i, master in enumerate(_masters(node, replies[0])):
        group = rest[3 * i : 3 * i + 3]
        if len(group) < 3:
            break  # no second round trip was made
        replicas, sentinels, ckquorum = group
        ok = not isinstance(ckquorum, Exception)
        views.append(
            SentinelGroupView(
                name=master["name"],
                master=master,
                replicas=tuple(dict_list(replicas)),
                sentinels=tuple(dict_list(sentinels)),
                ckquorum_ok=ok,
                ckquorum_message=decode(ckquorum) if ok else str(ckquorum),
            )
        )
    return SentinelRecord(myid, tuple(views), PEER_INFO.of(node.options))


def info_families(snap: NodeSnapshot, b: FamilyBuilder) -> None:
    """The sentinel section of the Sentinel's INFO (`sentinel_masters:1`, `master0:name=...`)."""
    info = snap.get(InfoRecord)
    record = snap.get(SentinelRecord)
    known = {view.name for view in record.groups} if record is not None else set()
    # Without a record (SENTINEL MASTERS refused) the INFO lines are all there is.
    for key, value in (info.sentinel if info is not None else {}).items():
        defn = n.SENTINEL_INFO_GAUGES.get(key)
        if defn is not None:
            number = to_number(value)
            if number is not None:
                b.add(defn, number)
            continue
        if not (key.startswith("master") and key[6:].isdigit()):
            continue
        master = parse_kv_list(value)
        name = master.get("name", "")
        if "address" not in master or (
            name not in known if record is not None else not plain_name(name)
        ):
            # A line a group name broke, or a group the Sentinel source left out (a name
            # with control characters, --sentinel-master): the source's choice holds here.
            continue
        labels = {
            "master_name": master.get("name", ""),
            "master_address": master.get("address", ""),
        }
        status = master.get("status", "")
        b.add(n.SENTINEL_MASTER_STATUS, 1 if status == "ok" else 0, **labels, master_status=status)
        for field, count in (
            ("slaves", n.SENTINEL_MASTER_SLAVES),
            ("sentinels", n.SENTINEL_MASTER_SENTINELS),
        ):
            number = to_number(master.get(field, ""))
            if number is not None:
                b.add(count, number, **labels)


def families(snap: NodeSnapshot, record: SentinelRecord, b: FamilyBuilder) -> None:
    for view in record.groups:
        labels = {"master_name": view.name, "master_address": view.master_address}
        b.add(
            n.SENTINEL_CKQUORUM,
            1 if view.ckquorum_ok else 0,
            master_name=view.name,
            message=view.ckquorum_message,
        )
        b.add(n.SENTINEL_OK_SENTINELS, 1 + sum(not is_down(s) for s in view.sentinels), **labels)
        b.add(n.SENTINEL_OK_SLAVES, sum(not is_down(r) for r in view.replicas), **labels)
        for key, defn in n.SENTINEL_MASTER_SETTINGS.items():
            value = to_number(view.master.get(key, ""))
            if value is not None:
                b.add(defn, value, **labels)
        ping = to_number(view.master.get("last-ok-ping-reply", ""))
        if ping is not None:
            b.add(n.SENTINEL_LAST_OK_PING, ping / 1e3, **labels)
        if record.peer_info:
            for peer in view.sentinels:
                b.add(
                    n.SENTINEL_PEER_INFO,
                    1,
                    **labels,
                    name=peer.get("name", ""),
                    ip=peer.get("ip", ""),
                    port=peer.get("port", ""),
                    runid=peer.get("runid", ""),
                    flags=peer.get("flags", ""),
                )


def master_views(name: str, snaps: Iterable[NodeSnapshot]) -> dict[str, str]:
    """Answering Sentinel instance -> the master address it names for the group."""
    out = {}
    for snap in snaps:
        if snap.kind == "sentinel" and snap.up:
            for view in groups_of(snap):
                if view.name == name:
                    out[snap.instance] = view.master_address
    return out


def group_families(
    groups: Mapping[str, GroupState], snaps: Iterable[NodeSnapshot], b: FamilyBuilder
) -> None:
    """Per Sentinel group, the exporter's own view across every polled node of the group."""
    nodes = list(snaps)
    for name in sorted(groups):
        state = groups[name]
        members = [s for s in nodes if name in s.groups and s.up and s.kind == "data"]
        b.add(n.GROUP_MASTERS, sum(s.role == "master" for s in members), master_name=name)
        b.add(n.GROUP_REPLICAS_UP, sum(s.role == "slave" for s in members), master_name=name)
        views = master_views(name, nodes)
        b.add(n.GROUP_SENTINELS_UP, len(views), master_name=name)
        b.add(n.GROUP_AGREEMENT, 1 if len(set(views.values())) == 1 else 0, master_name=name)
        b.add(n.SENTINEL_FAILOVERS, state.failovers, master_name=name)
        if state.last_failover_at is not None:
            b.add(n.GROUP_LAST_FAILOVER, state.last_failover_at, master_name=name)


SOURCE = Source(
    "sentinel",
    SentinelRecord,
    SENTINEL,
    commands,
    parse,
    families,
    more=more,
    from_snapshot=info_families,
    metrics=declared(vars(n)),
    settings=(PEER_INFO,),
    acl=(
        "+sentinel|masters",
        "+sentinel|myid",
        "+sentinel|replicas",
        "+sentinel|sentinels",
        "+sentinel|ckquorum",
    ),
)
