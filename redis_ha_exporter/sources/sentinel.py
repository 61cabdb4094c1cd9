"""SENTINEL MASTERS, then per followed group REPLICAS, SENTINELS and CKQUORUM, plus MYID.

Only commands Sentinel understands are sent, so its error counters never grow because of us.

redis_sentinel_master_ok_slaves{instance="10.0.0.9:26379",master_name="mymaster",...} 2
redis_sentinel_master_ckquorum_status{instance="10.0.0.9:26379",message="OK 3 usable...",...} 1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.replies import decode, dict_list, to_number
from redis_ha_exporter.snapshot import NodeSnapshot, SentinelGroupView, SentinelRecord
from redis_ha_exporter.sources.base import SENTINEL, Command, NodeView, Reply, Source

_PER_GROUP = ("REPLICAS", "SENTINELS", "CKQUORUM")


def flags(entry: Mapping[str, str]) -> set[str]:
    return set(entry.get("flags", "").split(","))


def is_down(entry: Mapping[str, str]) -> bool:
    return bool(flags(entry) & {"s_down", "o_down", "disconnected"})


def _masters(node: NodeView, reply: Reply) -> list[dict[str, str]]:
    return [m for m in dict_list(reply) if "name" in m and node.options.follows(m["name"])]


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
    return SentinelRecord(myid, tuple(views))


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


SOURCE = Source("sentinel", SentinelRecord, SENTINEL, commands, parse, families, more=more)
