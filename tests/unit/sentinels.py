"""Builders for Sentinel views and node snapshots used by the discovery and group tests."""

from __future__ import annotations

from collections.abc import Iterable

from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.info import InfoRecord
from redis_ha_exporter.sources.sentinel import SentinelGroupView, SentinelRecord


def _entry(address: str, flags: str, runid: str = "") -> dict[str, str]:
    host, _, port = address.rpartition(":")
    entry = {"name": address, "ip": host.strip("[]"), "port": port, "flags": flags}
    if runid:
        entry["runid"] = runid
    return entry


def view(
    name: str = "mymaster",
    master: str = "10.0.0.1:6379",
    replicas: Iterable[str] = ("10.0.0.2:6379", "10.0.0.3:6379"),
    sentinels: Iterable[str] = ("10.0.0.10:26379", "10.0.0.11:26379"),
    epoch: int | str = 0,
    runids: dict[str, str] | None = None,
) -> SentinelGroupView:
    """What one Sentinel reports for one group (its peers, not itself, under `sentinels`).
    `runids` gives the run_id (data nodes) or myid (Sentinels) it lists for an address."""
    ids = runids or {}
    return SentinelGroupView(
        name=name,
        master={
            **_entry(master, "master", ids.get(master, "")),
            "name": name,
            "config-epoch": str(epoch),
        },
        replicas=tuple(_entry(r, "slave", ids.get(r, "")) for r in replicas),
        sentinels=tuple(_entry(s, "sentinel", ids.get(s, "")) for s in sentinels),
        ckquorum_ok=True,
        ckquorum_message="OK",
    )


def sentinel(
    instance: str, *views: SentinelGroupView, up: bool = True, myid: str = ""
) -> NodeSnapshot:
    return NodeSnapshot(
        instance,
        "sentinel",
        groups=tuple(sorted({v.name for v in views})),
        up=up,
        polls=1,
        last_success_at=1.0 if up else None,
        identity=myid,
        records={SentinelRecord: SentinelRecord(myid, views if up else ())},
    )


def data_node(
    instance: str, role: str, *groups: str, up: bool = True, run_id: str = ""
) -> NodeSnapshot:
    server = {"run_id": run_id} if run_id else {}
    return NodeSnapshot(
        instance,
        "data",
        groups=groups,
        up=up,
        polls=1,
        last_success_at=1.0,
        role=role,
        identity=run_id,
        records={InfoRecord: InfoRecord.of({"server": server, "replication": {"role": role}})},
    )
