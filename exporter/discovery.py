"""Which nodes to poll: static targets plus everything the Sentinels name, kept current by
Sentinel events and by every Sentinel poll; and failovers, counted once per config epoch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from exporter.address import RedisAddress, parse_address
from exporter.config import Credentials, Target
from exporter.connection import make_client
from exporter.poller import NodeSpec
from exporter.snapshot import GroupState, NodeKind, NodeSnapshot
from exporter.sources.sentinel import decode, flags

log = logging.getLogger("exporter.discovery")

EVENTS = ("+switch-master", "+sdown", "-sdown", "+odown", "+failover-end", "+slave", "+sentinel")


def _address(host: str, port: str = "") -> RedisAddress | None:
    host = host.strip("[]")
    try:
        return parse_address(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}")
    except ValueError:
        return None


def derive_nodes(
    static: Iterable[Target],
    seeds: Iterable[Target],
    sentinels: Iterable[NodeSnapshot],
    previous: Mapping[str, NodeSpec],
    *,
    only: frozenset[str],
    data_credentials: Credentials,
    sentinel_credentials: Credentials,
) -> dict[str, NodeSpec]:
    """The full node set. A group no answering Sentinel reports keeps its previous nodes,
    so a Sentinel outage never makes the exporter forget the data nodes."""
    static_by_instance = {t.address.instance: t for t in static}
    seeds_by_instance = {t.address.instance: t for t in seeds}
    groups_of: dict[str, set[str]] = {}
    kinds: dict[str, NodeKind] = {}
    addresses: dict[str, RedisAddress] = {}
    # How we reach nodes we already know (a unix:// seed's instance is a socket path).
    known = {i: spec.address for i, spec in previous.items()}
    known |= {i: t.address for i, t in (static_by_instance | seeds_by_instance).items()}

    def member(addr: RedisAddress, kind: NodeKind, group: str) -> None:
        groups_of.setdefault(addr.instance, set()).add(group)
        kinds.setdefault(addr.instance, kind)
        addresses.setdefault(addr.instance, addr)

    reported: set[str] = set()
    for snap in sentinels:
        if not (snap.up and snap.kind == "sentinel"):
            continue
        me = known.get(snap.instance) or _address(*snap.instance.rsplit(":", 1))
        for view in snap.sentinel_groups:
            if only and view.name not in only:
                continue
            reported.add(view.name)
            entries: list[tuple[Mapping[str, str], NodeKind]] = [(view.master, "data")]
            entries += [(r, "data") for r in view.replicas]
            entries += [(s, "sentinel") for s in view.sentinels]
            for entry, kind in entries:
                addr = _address(entry.get("ip", ""), entry.get("port", ""))
                if addr is not None:
                    member(addr, kind, view.name)
            if me is not None:
                member(me, "sentinel", view.name)
    for instance, spec in previous.items():
        if spec.static or instance in groups_of:
            continue
        kept = [g for g in spec.groups if g not in reported]
        if kept:
            groups_of[instance] = set(kept)
            kinds[instance], addresses[instance] = spec.kind, spec.address
    out: dict[str, NodeSpec] = {}
    configured: list[tuple[Target, NodeKind]] = [
        (t, "sentinel") for t in seeds_by_instance.values()
    ]
    configured += [(t, "unknown") for t in static_by_instance.values()]
    for target, kind in configured:
        instance = target.address.instance
        if instance not in out:  # a --sentinel-addr wins over the same --redis-addr
            out[instance] = NodeSpec(
                target.address,
                target.credentials,
                kind,
                tuple(sorted(groups_of.get(instance, ()))),
                static=True,
            )
    for instance, groups in groups_of.items():
        if instance in out:
            continue
        sentinel = kinds[instance] == "sentinel"
        out[instance] = NodeSpec(
            addresses[instance],
            sentinel_credentials if sentinel else data_credentials,
            "sentinel" if sentinel else "data",
            tuple(sorted(groups)),
        )
    return out


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
    so the address comes from views of that epoch not marked failover_in_progress, by majority.
    """
    views: dict[str, list[tuple[int, str, bool]]] = {}
    for snap in sentinels:
        if not (snap.up and snap.kind == "sentinel"):
            continue
        for view in snap.sentinel_groups:
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
        epoch = max(e for e, _, _ in seen)
        settled = Counter(a for e, a, busy in seen if e == epoch and not busy)
        address = settled.most_common(1)[0][0] if settled else state.master_address
        if state.config_epoch is None:
            out[name] = GroupState(name, state.failovers, epoch, state.last_failover_at, address)
        elif epoch > state.config_epoch:
            log.info("failover of %s observed: master is now %s (epoch %d)", name, address, epoch)
            out[name] = GroupState(name, state.failovers + 1, epoch, now, address)
        elif address != state.master_address:
            out[name] = GroupState(
                name, state.failovers, state.config_epoch, state.last_failover_at, address
            )
    return out


class SentinelEvents:
    """Subscribes to a Sentinel's event channels and calls `on_event` for each message."""

    def __init__(
        self,
        spec: NodeSpec,
        timeout: float,
        max_backoff: float,
        on_event: Callable[[str, str, str], None],
    ) -> None:
        self.spec = spec
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._ping_every = max_backoff / 4
        self._on_event = on_event
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"events {self.spec.instance}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self, pubsub: PubSub) -> None:
        """Deliver events; PING now and then, since an idle subscription cannot tell a
        quiet Sentinel from a frozen one."""
        last_heard = next_ping = time.monotonic()
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            now = time.monotonic()
            if message is not None:
                last_heard = now
                if message.get("type") == "message":
                    self._on_event(
                        self.spec.instance, decode(message["channel"]), decode(message["data"])
                    )
            if now >= next_ping:
                await pubsub.ping()
                next_ping = now + self._ping_every
            if now - last_heard > self._ping_every + self._timeout:
                raise TimeoutError("no reply to PING")

    async def _run(self) -> None:
        failures = 0
        while True:
            client: Redis | None = None
            try:
                client = make_client(self.spec.address, self.spec.credentials, self._timeout)
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
                        await client.aclose()
            delay = min(0.5 * 2 ** (failures - 1), self._max_backoff) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
