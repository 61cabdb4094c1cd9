"""Which nodes to poll: the static targets plus every node the steering Sentinels name, one
entry per server, kept inside --discovery-allow and --max-nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from redis_ha_exporter.address import RedisAddress, parse_address
from redis_ha_exporter.config import Credentials, Target
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.snapshot import NodeKind, NodeSnapshot
from redis_ha_exporter.sources.sentinel import groups_of


@dataclass(frozen=True, slots=True)
class Topology:
    """The nodes to poll, and the names found to be another name of one of them."""

    specs: dict[str, NodeSpec]
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> canonical instance
    # Per group, the nodes its Sentinels name outside --discovery-allow: never contacted.
    rejected: dict[str, frozenset[str]] = field(default_factory=dict)
    # Nodes discovered beyond --max-nodes: not polled.
    capped: frozenset[str] = frozenset()
    # The Sentinels whose views were followed (see `steers`): their groups' failovers count.
    steering: tuple[NodeSnapshot, ...] = ()


def _address(host: str, port: str = "", tls: bool = False) -> RedisAddress | None:
    host = host.strip("[]")
    scheme = "rediss" if tls else "redis"
    try:
        return parse_address(
            f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
        )
    except ValueError:
        return None


def steers(snap: NodeSnapshot, seeds: Mapping[str, object], static: Mapping[str, object]) -> bool:
    """Whether a Sentinel's view decides the topology: an answering Sentinel given with
    --sentinel-addr or found through one does; a Sentinel given only as a --redis-addr is
    just polled."""
    return (
        snap.up
        and snap.kind == "sentinel"
        and (snap.instance in seeds or snap.instance not in static)
    )


def _announced(
    snap: NodeSnapshot, me: RedisAddress | None, tls_data: bool
) -> Iterator[tuple[RedisAddress, NodeKind, str, str]]:
    """(address, kind, group, identity) of every node a Sentinel names, itself included. The
    nodes a Sentinel reached over TLS names are reached over TLS too, and the data nodes are
    with `tls_data` (--tls-discovered-nodes: plain Sentinels in front of TLS data nodes). The
    groups are those the Sentinel source kept: --sentinel-master is applied there, once."""
    tls = me is not None and me.tls
    for view in groups_of(snap):
        entries: list[tuple[Mapping[str, str], NodeKind]] = [(view.master, "data")]
        entries += [(r, "data") for r in view.replicas]
        entries += [(s, "sentinel") for s in view.sentinels]
        for entry, kind in entries:
            over_tls = tls or (tls_data and kind == "data")
            addr = _address(entry.get("ip", ""), entry.get("port", ""), over_tls)
            if addr is not None:
                yield addr, kind, view.name, entry.get("runid", "")
        if me is not None:
            yield me, "sentinel", view.name, snap.identity


def derive_nodes(
    static: Iterable[Target],
    seeds: Iterable[Target],
    snapshots: Iterable[NodeSnapshot],
    previous: Mapping[str, NodeSpec],
    *,
    data_credentials: Credentials,
    sentinel_credentials: Credentials,
    aliases: Mapping[str, str] | None = None,
    allow: Callable[[RedisAddress], bool] | None = None,
    max_nodes: int | None = None,
    tls_data: bool = False,
    server_names: Mapping[str, str] | None = None,
) -> Topology:
    """The full node set, one entry per server.

    Sentinels given with --sentinel-addr, and those they name, steer discovery; a Sentinel
    given as a plain --redis-addr is just polled. A group no answering Sentinel reports
    keeps its previous nodes, so a Sentinel outage never makes the exporter forget the data
    nodes. A server reached under two names (`localhost` and `127.0.0.1`, announced
    hostnames) is one node: names are matched by identity (a data node's run_id, a
    Sentinel's myid), and the canonical name is the configured one, else the one the
    Sentinels announce. `aliases` are those found before: an alias is no longer polled, so
    its own identity is gone, and it stays an alias while its canonical node exists.

    A node a Sentinel names that `allow` refuses is left out (in `rejected`), unless it is
    already known; beyond `max_nodes`, nodes not polled before are left out (in `capped`).
    A discovered data node's TLS name is its group's in `server_names` (the first group by
    name that has one).
    """
    static_by_instance = {t.address.instance: t for t in static}
    seeds_by_instance = {t.address.instance: t for t in seeds}
    configured: dict[str, tuple[Target, NodeKind]] = {
        i: (t, "sentinel") for i, t in seeds_by_instance.items()
    }
    for i, t in static_by_instance.items():
        configured.setdefault(i, (t, "unknown"))  # a --sentinel-addr wins over a --redis-addr
    snaps = list(snapshots)
    steering = [s for s in snaps if steers(s, seeds_by_instance, static_by_instance)]
    # How we reach nodes we already know (a unix:// seed's instance is a socket path).
    known = {i: spec.address for i, spec in previous.items()}
    known |= {i: t.address for i, (t, _) in configured.items()}
    announced = [
        entry
        for snap in steering
        for entry in _announced(
            snap,
            known.get(snap.instance) or _address(*snap.instance.rpartition(":")[::2]),
            tls_data,
        )
    ]
    rejected: dict[str, set[str]] = {}
    if allow is not None:
        allowed = []
        for entry in announced:
            addr, _, group, _ = entry
            if addr.instance in known or allow(addr):
                allowed.append(entry)
            else:
                rejected.setdefault(group, set()).add(addr.instance)
        announced = allowed

    # Who owns each identity: configured names first, then announced ones, then the rest.
    owner: dict[str, str] = {}
    by_instance = {s.instance: s for s in snaps}
    for instance in configured:
        snap = by_instance.get(instance)
        if snap is not None and snap.identity:
            owner.setdefault(snap.identity, instance)
    for addr, _, _, ident in announced:
        if ident:
            owner.setdefault(ident, addr.instance)
    for snap in sorted(snaps, key=lambda s: s.instance):
        if snap.identity:
            owner.setdefault(snap.identity, snap.instance)
    found = dict(aliases or {})
    found |= {
        s.instance: owner[s.identity]
        for s in snaps
        if s.identity and owner[s.identity] != s.instance
    }
    aliases = found

    groups_of: dict[str, set[str]] = {}
    kinds: dict[str, NodeKind] = {}
    addresses: dict[str, RedisAddress] = {}
    reported = {g for _, _, g, _ in announced}
    for addr, kind, group, ident in announced:
        instance = addr.instance
        canonical = owner.get(ident, instance) if ident else aliases.get(instance, instance)
        if canonical != instance:
            aliases[instance] = canonical
        groups_of.setdefault(canonical, set()).add(group)
        kinds.setdefault(canonical, kind)
        addresses.setdefault(canonical, known.get(canonical, addr))
    for instance, spec in previous.items():
        if spec.static or instance in groups_of or instance in aliases:
            continue
        kept = [g for g in spec.groups if g not in reported]
        if kept:
            groups_of[instance] = set(kept)
            kinds[instance], addresses[instance] = spec.kind, spec.address

    out: dict[str, NodeSpec] = {}
    for instance, (target, kind) in configured.items():
        if instance not in aliases:
            names = tuple(sorted(groups_of.get(instance, ())))
            out[instance] = NodeSpec(target.address, target.credentials, kind, names, True)
    found_now = sorted(
        (i for i in groups_of if i not in out and i not in aliases),
        key=lambda i: (i not in previous, i),  # those polled before keep their place
    )
    room = len(found_now) if max_nodes is None else max(max_nodes - len(out), 0)
    tls_names = server_names or {}
    for instance in found_now[:room]:
        sentinel = kinds[instance] == "sentinel"
        groups = tuple(sorted(groups_of[instance]))
        out[instance] = NodeSpec(
            addresses[instance],
            sentinel_credentials if sentinel else data_credentials,
            "sentinel" if sentinel else "data",
            groups,
            server_name=None
            if sentinel
            else next((tls_names[g] for g in groups if g in tls_names), None),
        )
    return Topology(
        out,
        {a: c for a, c in aliases.items() if a not in out and c in out},
        {group: frozenset(nodes) for group, nodes in rejected.items()},
        frozenset(found_now[room:]),
        tuple(s for s in steering if s.instance in out),
    )
