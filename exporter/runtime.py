"""Wires settings, discovery, pollers and the store together, and keeps the set of pollers
equal to the set of nodes discovery says exist."""

from __future__ import annotations

import asyncio
import logging
import time

from exporter.address import parse_address
from exporter.config import Credentials, Settings
from exporter.discovery import SentinelEvents, derive_nodes, track_failovers
from exporter.exposition import Renderer
from exporter.poller import NodePoller, NodeSpec, PollSettings
from exporter.snapshot import NodeSnapshot
from exporter.store import Store

log = logging.getLogger("exporter.runtime")
_STATIC = NodeSpec(parse_address("localhost"), Credentials(), static=True)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.poll = PollSettings(
            interval=settings.poll_interval,
            timeout=settings.poll_timeout,
            slowlog_fetch=settings.slowlog_fetch,
            config_refresh_polls=settings.config_refresh_polls,
        )
        self.store = Store(settings.poll_interval)
        self.renderer = Renderer(self.store)
        self._static = settings.data_targets()
        self._seeds = settings.sentinel_targets()
        self._seed_instances = frozenset(t.address.instance for t in self._seeds)
        self._only = frozenset(settings.sentinel_master)
        self._data_creds = settings.data_credentials()
        self._sentinel_creds = settings.sentinel_credentials()
        self.specs: dict[str, NodeSpec] = {}
        self.pollers: dict[str, NodePoller] = {}
        self._watchers: dict[str, SentinelEvents] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._busy = False
        self._again = False

    async def start(self) -> None:
        self._rediscover()
        log.info(
            "polling %d static target(s) and %d Sentinel(s) every %gs",
            len(self._static),
            len(self._seeds),
            self.poll.interval,
        )

    async def stop(self) -> None:
        pollers, watchers = list(self.pollers.values()), list(self._watchers.values())
        self.pollers.clear()
        self._watchers.clear()
        await asyncio.gather(
            *(p.stop() for p in pollers),
            *(w.stop() for w in watchers),
            *self._stopping,
            return_exceptions=True,
        )

    # -- callbacks -------------------------------------------------------------------

    def _on_snapshot(self, snap: NodeSnapshot) -> None:
        if snap.instance not in self.pollers:
            return  # a poller being stopped may still finish one poll
        self.store.put(snap)
        if snap.kind == "sentinel":
            self._rediscover()

    def _on_event(self, sentinel: str, channel: str, data: str) -> None:
        log.debug("sentinel %s event %s %s", sentinel, channel, data)
        for poller in self.pollers.values():
            if poller.snapshot.kind == "sentinel" or poller.spec.kind == "sentinel":
                poller.poke()

    # -- discovery -------------------------------------------------------------------

    def _rediscover(self) -> None:
        if self._busy:  # a snapshot published while reconciling: run once more afterwards
            self._again = True
            return
        self._busy = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._rediscover_once()
        finally:
            self._busy = False

    def _rediscover_once(self) -> None:
        # Only Sentinels given with --sentinel-addr, and those they name, steer discovery; a
        # Sentinel listed as a plain --redis-addr target is just polled.
        sentinels = [
            s
            for s in self.store.nodes.values()
            if s.kind == "sentinel"
            and (
                s.instance in self._seed_instances or not self.specs.get(s.instance, _STATIC).static
            )
        ]
        specs = derive_nodes(
            self._static,
            self._seeds,
            sentinels,
            self.specs,
            only=self._only,
            data_credentials=self._data_creds,
            sentinel_credentials=self._sentinel_creds,
        )
        before = self.store.groups
        groups = track_failovers(before, sentinels, time.time(), self._only)
        self.store.set_groups(groups)
        self._reconcile(specs)
        for name, state in groups.items():
            old = before.get(name)
            if old is not None and old != state:
                # The Sentinels name a new master: re-poll the group now, not at the next tick.
                for poller in self.pollers.values():
                    if name in poller.spec.groups:
                        poller.poke()

    def _reconcile(self, specs: dict[str, NodeSpec]) -> None:
        for instance in set(self.pollers) - set(specs):
            log.info("node %s is no longer part of the topology; dropping its series", instance)
            gone = self.pollers.pop(instance)
            self.store.remove(instance)
            task = asyncio.create_task(gone.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
            watcher = self._watchers.pop(instance, None)
            if watcher is not None:
                task = asyncio.create_task(watcher.stop())
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
        self.specs = specs
        self.store.expected = frozenset(specs)
        for instance, spec in specs.items():
            poller = self.pollers.get(instance)
            if poller is None:
                if self.store.nodes:
                    log.info(
                        "discovered %s node %s (%s)",
                        spec.kind,
                        instance,
                        ",".join(spec.groups) or "static",
                    )
                poller = self.pollers[instance] = NodePoller(spec, self.poll, self._on_snapshot)
                poller.start()
            elif poller.spec != spec:
                poller.update(spec)
            if spec.kind == "sentinel" and instance not in self._watchers:
                watcher = SentinelEvents(
                    spec, self.poll.timeout, max(self.poll.interval, 1.0) * 4, self._on_event
                )
                self._watchers[instance] = watcher
                watcher.start()
