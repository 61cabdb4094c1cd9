"""Per Sentinel group, the exporter's own view across every polled node of the group.

redis_sentinel_group_masters{master_name="mymaster"} 1
redis_sentinel_group_sentinels_up{master_name="mymaster"} 3
redis_sentinel_group_master_agreement{master_name="mymaster"} 1
redis_sentinel_failovers_total{master_name="mymaster"} 2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import Family, FamilyBuilder
from redis_ha_exporter.snapshot import GroupState, NodeSnapshot


def master_views(name: str, snaps: Iterable[NodeSnapshot]) -> dict[str, str]:
    """Answering Sentinel instance -> the master address it names for the group."""
    out = {}
    for snap in snaps:
        if snap.kind == "sentinel" and snap.up:
            for view in snap.sentinel_groups:
                if view.name == name:
                    out[snap.instance] = view.master_address
    return out


def group_families(groups: Mapping[str, GroupState], snaps: Iterable[NodeSnapshot]) -> list[Family]:
    nodes = list(snaps)
    b = FamilyBuilder(None)
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
    return b.build()
