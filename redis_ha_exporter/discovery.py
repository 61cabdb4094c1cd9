"""Which nodes to poll: static targets plus everything the Sentinels name, kept current by
Sentinel events and by every Sentinel poll; this shard's share of them; and failovers, counted
once per config epoch."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from redis_ha_exporter.address import RedisAddress, parse_address
from redis_ha_exporter.config import Credentials, Target, TlsOptions
from redis_ha_exporter.replies import decode
from redis_ha_exporter.snapshot import Failover, GroupState, NodeKind, NodeSnapshot
from redis_ha_exporter.sources.sentinel import flags, groups_of
from redis_ha_exporter.wire import ClientName

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger("redis_ha_exporter.discovery")

HISTORY = 20  # failovers kept per group for the status page
# A Sentinel's event subscription: any channel (`&*`; Sentinel has no key space) and SUBSCRIBE.
EVENTS_ACL = ("&*", "+subscribe")
EVENTS = ("+switch-master", "+sdown", "-sdown", "+odown", "+failover-end", "+slave", "+sentinel")


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node to poll. `kind` is a hint; the poll itself detects what the node is."""

    address: RedisAddress
    credentials: Credentials
    kind: NodeKind = "unknown"
    groups: tuple[str, ...] = ()
    static: bool = False

    @property
    def instance(self) -> str:
        return self.address.instance


@dataclass(frozen=True, slots=True)
class Topology:
    """The nodes to poll, and the names found to be another name of one of them."""

    specs: dict[str, NodeSpec]
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> canonical instance
    # Per group, the nodes its Sentinels name outside --discovery-allow: never contacted.
    rejected: dict[str, frozenset[str]] = field(default_factory=dict)
    # Nodes discovered beyond --max-nodes: not polled.
    capped: frozenset[str] = frozenset()


def _address(host: str, port: str = "", tls: bool = False) -> RedisAddress | None:
    host = host.strip("[]")
    scheme = "rediss" if tls else "redis"
    try:
        return parse_address(
            f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
        )
    except ValueError:
        return None


def _announced(
    snap: NodeSnapshot, me: RedisAddress | None, only: frozenset[str]
) -> Iterator[tuple[RedisAddress, NodeKind, str, str]]:
    """(address, kind, group, identity) of every node a Sentinel names, itself included. The
    nodes a Sentinel reached over TLS names are reached over TLS too."""
    tls = me is not None and me.tls
    for view in groups_of(snap):
        if only and view.name not in only:
            continue
        entries: list[tuple[Mapping[str, str], NodeKind]] = [(view.master, "data")]
        entries += [(r, "data") for r in view.replicas]
        entries += [(s, "sentinel") for s in view.sentinels]
        for entry, kind in entries:
            addr = _address(entry.get("ip", ""), entry.get("port", ""), tls)
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
    only: frozenset[str],
    data_credentials: Credentials,
    sentinel_credentials: Credentials,
    aliases: Mapping[str, str] | None = None,
    allow: Callable[[RedisAddress], bool] | None = None,
    max_nodes: int | None = None,
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
    """
    static_by_instance = {t.address.instance: t for t in static}
    seeds_by_instance = {t.address.instance: t for t in seeds}
    configured: dict[str, tuple[Target, NodeKind]] = {
        i: (t, "sentinel") for i, t in seeds_by_instance.items()
    }
    for i, t in static_by_instance.items():
        configured.setdefault(i, (t, "unknown"))  # a --sentinel-addr wins over a --redis-addr
    snaps = list(snapshots)
    steering = [
        s
        for s in snaps
        if s.up
        and s.kind == "sentinel"
        and (s.instance in seeds_by_instance or s.instance not in static_by_instance)
    ]
    # How we reach nodes we already know (a unix:// seed's instance is a socket path).
    known = {i: spec.address for i, spec in previous.items()}
    known |= {i: t.address for i, (t, _) in configured.items()}
    announced = [
        entry
        for snap in steering
        for entry in _announced(
            snap,
            known.get(snap.instance) or _address(*snap.instance.rpartition(":")[::2]),
            only,
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
    for instance in found_now[:room]:
        sentinel = kinds[instance] == "sentinel"
        out[instance] = NodeSpec(
            addresses[instance],
            sentinel_credentials if sentinel else data_credentials,
            "sentinel" if sentinel else "data",
            tuple(sorted(groups_of[instance])),
        )
    return Topology(
        out,
        {a: c for a, c in aliases.items() if a not in out and c in out},
        {group: frozenset(nodes) for group, nodes in rejected.items()},
        frozenset(found_now[room:]),
    )


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
    `elsewhere` says, per shard key another shard owns, what this shard leaves to it."""

    polled: dict[str, NodeSpec]
    unexported: frozenset[str]
    elsewhere: dict[str, str]


def share(specs: Mapping[str, NodeSpec], shard: Shard) -> Share:
    """This shard's share of `specs`. Every shard polls every Sentinel, since each one
    discovers the whole topology; nodes and groups are split by `shard_key`."""
    polled: dict[str, NodeSpec] = {}
    unexported: set[str] = set()
    elsewhere: dict[str, str] = {}
    for instance, spec in sorted(specs.items()):
        key = shard_key(spec)
        if shard.owns(key):
            polled[instance] = spec
            continue
        owner = f"shard {shard.owner(key)} of {shard.total}"
        if spec.kind == "sentinel":
            polled[instance] = spec
            unexported.add(instance)
            elsewhere[key] = f"Sentinel {key} belongs to {owner}: polled for discovery only"
        elif key != instance:
            elsewhere[key] = f"group {key} belongs to {owner}: not polling its nodes"
        else:
            elsewhere[key] = f"node {key} belongs to {owner}: not polling it"
    return Share(polled, frozenset(unexported), elsewhere)


def track_failovers(
    groups: Mapping[str, GroupState],
    sentinels: Iterable[NodeSnapshot],
    now: float,
    only: frozenset[str] = frozenset(),
) -> dict[str, GroupState]:
    """Count a failover when the highest config epoch any Sentinel reports for a group rises,
    and follow the master address the Sentinels settle on.

    Every Sentinel announces the same failover with the same new epoch, so taking the maximum
    counts it once; the first epoch seen is a baseline. The Sentinel that ran the failover
    reports the new epoch with the *old* address until it finishes (about a second later),
    so the address comes from views of that epoch not marked failover_in_progress, by
    majority; until one such view exists the new epoch is not taken, so the failover is
    counted, and logged with the new master, once the Sentinels have settled.
    """
    views: dict[str, list[tuple[int, str, bool]]] = {}
    for snap in sentinels:
        if not (snap.up and snap.kind == "sentinel"):
            continue
        for view in groups_of(snap):
            if only and view.name not in only:
                continue
            try:
                epoch = int(view.master.get("config-epoch", ""))
            except ValueError:
                continue
            busy = "failover_in_progress" in flags(view.master)
            views.setdefault(view.name, []).append((epoch, view.master_address, busy))
    out = dict(groups)
    for name, seen in views.items():
        state = out.get(name, GroupState(name))
        settled_epochs = [e for e, _, busy in seen if not busy]
        if not settled_epochs:
            continue
        epoch = max(settled_epochs)
        settled = Counter(a for e, a, busy in seen if e == epoch and not busy)
        address = settled.most_common(1)[0][0]
        if state.config_epoch is None:
            out[name] = replace(state, config_epoch=epoch, master_address=address)
        elif epoch > state.config_epoch:
            log.info("failover of %s observed: master is now %s (epoch %d)", name, address, epoch)
            seen_now = Failover(now, state.master_address, address, epoch)
            out[name] = replace(
                state,
                failovers=state.failovers + 1,
                config_epoch=epoch,
                last_failover_at=now,
                master_address=address,
                history=(*state.history, seen_now)[-HISTORY:],
            )
        elif address != state.master_address and epoch == state.config_epoch:
            out[name] = replace(state, master_address=address)
    return out


class SentinelEvents:
    """Subscribes to a Sentinel's event channels and calls `on_event` for each message."""

    def __init__(
        self,
        spec: NodeSpec,
        timeout: float,
        max_backoff: float,
        on_event: Callable[[str, str, str], None],
        set_client_name: bool = True,
        tls: TlsOptions | None = None,
    ) -> None:
        self.spec = spec
        self._tls = tls
        # The poller of the same Sentinel already logs a refused CLIENT SETNAME.
        self._name = ClientName(set_client_name, lambda exc: None)
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._ping_every = max_backoff / 4
        self._on_event = on_event
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"events {self.spec.instance}")

    async def stop(self) -> None:
        # As for a poller: redis-py's timeouts may turn the cancel into a TimeoutError.
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self, pubsub: PubSub) -> None:
        """Deliver events; PING now and then, since an idle subscription cannot tell a
        quiet Sentinel from a frozen one. Between messages it sleeps until the next PING or
        the deadline for its reply, so an idle subscription wakes once per PING period."""
        last_heard = next_ping = time.monotonic()
        while True:
            now = time.monotonic()
            deadline = last_heard + self._ping_every + self._timeout
            if now >= deadline:
                raise TimeoutError("no reply to PING")
            if now >= next_ping:
                await pubsub.ping()
                next_ping = now + self._ping_every
            wait = max(min(next_ping, deadline) - now, 0.0)
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            if message is not None:
                last_heard = time.monotonic()
                if message.get("type") == "message":
                    self._on_event(
                        self.spec.instance, decode(message["channel"]), decode(message["data"])
                    )

    async def _run(self) -> None:
        # redis-py only here, and only once there is a Sentinel to follow: a data node's
        # exporter never loads it (20 MB).
        from redis.exceptions import RedisError

        from redis_ha_exporter.connection import make_client

        failures = 0
        while not self._stopped:
            client: Redis | None = None
            try:
                client = make_client(
                    self.spec.address, self.spec.credentials, self._timeout, self._name, self._tls
                )
                pubsub = client.pubsub()
                async with pubsub:
                    await pubsub.subscribe(*EVENTS)
                    if failures:
                        log.info("event subscription to %s restored", self.spec.instance)
                    failures = 0
                    # Resync after (re)subscribing: events may have passed while we were away.
                    self._on_event(self.spec.instance, "subscribed", "")
                    await self._listen(pubsub)
            except (TimeoutError, RedisError, OSError) as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(
                    level,
                    "event subscription to %s lost: %s",
                    self.spec.instance,
                    type(exc).__name__,
                )
            finally:
                if client is not None:
                    with contextlib.suppress(Exception):
                        # The pool is ours: closing only the client would leave its socket.
                        await client.aclose(close_connection_pool=True)
            delay = min(0.5 * 2 ** (failures - 1), self._max_backoff) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
