"""Builders for Sentinel views, node snapshots and node sets used by the topology, sharding,
failover and group tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from redis_ha_exporter.address import parse_address
from redis_ha_exporter.config import Credentials, Target
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.info import InfoRecord
from redis_ha_exporter.sources.sentinel import SentinelGroupView, SentinelRecord
from redis_ha_exporter.topology import Topology, derive_nodes


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


# -- node sets derived from them --------------------------------------------------------------

DATA = Credentials("app", SecretStr("data-pw"))
SENTINEL = Credentials(None, SecretStr("sentinel-pw"))
SEED = "10.0.0.9:26379"
PEERS = ("10.0.0.10:26379", "10.0.0.11:26379")


def target(text: str, creds: Credentials = SENTINEL) -> Target:
    return Target(parse_address(text), creds)


def derive(
    sentinels: Iterable[NodeSnapshot],
    previous: Mapping[str, NodeSpec] | None = None,
    static: Iterable[Target] = (),
    seeds: Iterable[Target] = (target(SEED),),
) -> dict[str, NodeSpec]:
    return topology(sentinels, previous, static, seeds).specs


def topology(
    snapshots: Iterable[NodeSnapshot],
    previous: Mapping[str, NodeSpec] | None = None,
    static: Iterable[Target] = (),
    seeds: Iterable[Target] = (target(SEED),),
) -> Topology:
    return derive_nodes(
        static,
        seeds,
        list(snapshots),
        previous or {},
        data_credentials=DATA,
        sentinel_credentials=SENTINEL,
    )


def summary(nodes: Mapping[str, NodeSpec]) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    return {i: (spec.kind, spec.groups, spec.static) for i, spec in nodes.items()}


def two_groups() -> NodeSnapshot:
    return sentinel(
        SEED,
        view("alpha", sentinels=PEERS),
        view("beta", "10.0.1.1:6379", (), sentinels=PEERS),
    )
