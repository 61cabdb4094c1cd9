"""Each shard's share of the node set: a Sentinel group's nodes stay together, every shard polls
every Sentinel, and the shard of a key is what Prometheus's `hashmod` relabel gives."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from redis_ha_exporter.nodes import NodeSpec


def shard_of(key: str, total: int) -> int:
    """The shard of `key` exactly as Prometheus's `hashmod` relabel action computes it (the
    last 8 bytes of its MD5 digest, big-endian, modulo `total`), so that a `hashmod` relabel
    on the same value picks the same shard."""
    digest = hashlib.md5(key.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % total


def shard_key(spec: NodeSpec) -> str:
    """What decides a node's shard: a data node's Sentinel group (the first by name), so that
    a group's master and replicas stay together; a Sentinel's or an ungrouped node's instance."""
    if spec.groups and spec.kind != "sentinel":
        return min(spec.groups)
    return spec.instance


@dataclass(frozen=True, slots=True)
class Shard:
    """`--shard index --total-shards total`; one shard of one owns everything."""

    index: int = 0
    total: int = 1

    def owner(self, key: str) -> int:
        return shard_of(key, self.total) if self.total > 1 else 0

    def owns(self, key: str) -> bool:
        return self.owner(key) == self.index

    def describe(self, static: Iterable[str], only: Iterable[str]) -> str:
        """What this shard polls, as far as it is known before discovery."""
        mine = ", ".join(sorted(i for i in static if self.owns(i))) or "none"
        groups = "the Sentinel groups that hash to it"
        if only:  # --sentinel-master names them all
            groups = ", ".join(g for g in sorted(only) if self.owns(g)) or "no group"
        return (
            f"shard {self.index} of {self.total}: polling {groups}, static targets: {mine}, "
            "and every Sentinel for discovery"
        )


@dataclass(frozen=True, slots=True)
class Share:
    """What one shard does with the node set: it polls `polled` and exports all of them but
    `unexported`, the Sentinels that another shard exports and this one polls for discovery.
    `elsewhere` says, per shard key another shard owns, what this shard leaves to it;
    `owners`, per node whose series another shard exports, that shard's index."""

    polled: dict[str, NodeSpec]
    unexported: frozenset[str]
    elsewhere: dict[str, str]
    owners: dict[str, int] = field(default_factory=dict)


def share(specs: Mapping[str, NodeSpec], shard: Shard) -> Share:
    """This shard's share of `specs`. Every shard polls every Sentinel, since each one
    discovers the whole topology; nodes and groups are split by `shard_key`."""
    polled: dict[str, NodeSpec] = {}
    unexported: set[str] = set()
    elsewhere: dict[str, str] = {}
    owners: dict[str, int] = {}
    for instance, spec in sorted(specs.items()):
        key = shard_key(spec)
        if shard.owns(key):
            polled[instance] = spec
            continue
        owners[instance] = shard.owner(key)
        owner = f"shard {shard.owner(key)} of {shard.total}"
        if spec.kind == "sentinel":
            polled[instance] = spec
            unexported.add(instance)
            elsewhere[key] = f"Sentinel {key} belongs to {owner}: polled for discovery only"
        elif key != instance:
            elsewhere[key] = f"group {key} belongs to {owner}: not polling its nodes"
        else:
            elsewhere[key] = f"node {key} belongs to {owner}: not polling it"
    return Share(polled, frozenset(unexported), elsewhere, owners)
