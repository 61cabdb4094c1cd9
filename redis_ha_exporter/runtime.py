"""Wires settings, discovery, pollers and the store together.

Pollers put their snapshots on one queue; a single task takes them off, stores them and, when
a Sentinel's view or a node's identity changed, derives the node set again and reconciles the
pollers with it. Nothing calls back into discovery while it runs. With `--total-shards`, it
polls only this shard's share of the nodes (and every Sentinel, for discovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette

from redis_ha_exporter import sources
from redis_ha_exporter.address import RedisAddress
from redis_ha_exporter.config import ConfigError, Settings, source_values
from redis_ha_exporter.events import SentinelEvents
from redis_ha_exporter.exposition import Renderer
from redis_ha_exporter.failovers import track_failovers
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.poller import NodePoller, PollSettings
from redis_ha_exporter.scrape import TargetScraper
from redis_ha_exporter.server import DescriptorWatch
from redis_ha_exporter.sharding import Shard, share
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import PollOptions
from redis_ha_exporter.store import DiscoveryLimits, ReloadState, Store
from redis_ha_exporter.topology import derive_nodes
from redis_ha_exporter.web import create_app
from redis_ha_exporter.webconfig import BasicAuth, WebConfig
from redis_ha_exporter.wire import forget_contexts

log = logging.getLogger("redis_ha_exporter.runtime")

_ROLE_NAMES = {"slave": "replica"}
# The longest shutdown waits for pollers and subscriptions to stop before it leaves them.
STOP_TIMEOUT = 5.0
# Signals that would end the process by default and must not: SIGHUP (logrotate and
# configuration management send it) reloads the configuration; SIGUSR1 and SIGUSR2 have no
# meaning here.
IGNORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGHUP", "SIGUSR1", "SIGUSR2") if hasattr(signal, name)
)


@dataclass(frozen=True, slots=True)
class _Published:
    poller: NodePoller
    snapshot: NodeSnapshot


@dataclass(frozen=True, slots=True)
class _Event:
    sentinel: str
    channel: str
    data: str


def poll_settings(settings: Settings) -> PollSettings:
    return PollSettings(
        interval=settings.poll_interval,
        timeout=settings.poll_timeout,
        options=PollOptions(
            source_values(settings), sentinel_masters=frozenset(settings.sentinel_master)
        ),
        set_client_name=settings.set_client_name,
        max_reply_bytes=settings.max_reply_bytes,
        secrets=settings.secrets(),
        data_tls=settings.data_tls(),
        sentinel_tls=settings.sentinel_tls(),
    )


class Runtime:
    def __init__(self, settings: Settings, reload: Callable[[], Settings] | None = None) -> None:
        """`reload` reads the configuration again (SIGHUP, POST /-/reload)."""
        self._load = reload
        self.settings = settings
        self.poll = poll_settings(settings)
        self.store = Store(settings.poll_interval)
        self.renderer = Renderer(self.store, sources.ALL, settings.metrics_min_age)
        self.renderer.redis_only = settings.redis_only_metrics
        self.scraper = TargetScraper(
            self.renderer,
            lambda instance: self._aliases.get(instance, instance),
            settings.scrape_rules(),
            self.poll,
            sources.ALL,
            mapped=settings.mapped_credentials,
            owner=self._owner_of,
        )
        self.auth = BasicAuth({})
        self.server_context: ssl.SSLContext | None = None  # the HTTPS listener's, set by cli
        self._configure(settings)
        self._logged_rejected: set[tuple[str, str]] = set()
        self.specs: dict[str, NodeSpec] = {}
        self.pollers: dict[str, NodePoller] = {}
        self._watchers: dict[str, SentinelEvents] = {}
        self._aliases: dict[str, str] = {}
        self._logged_aliases: set[tuple[str, str]] = set()
        self._logged_keys: set[str] = set()
        self._logged_not_sentinel: set[str] = set()
        # The last snapshot of each node handed to another shard: its identity keeps a second
        # name of it (a --redis-addr the Sentinels announce otherwise) resolved the same way.
        self._handed_off: dict[str, NodeSnapshot] = {}
        self._owners: dict[str, int] = {}  # nodes another shard exports, by shard index
        self._queue: asyncio.Queue[_Published | _Event] = asyncio.Queue()
        self._descriptors = DescriptorWatch()
        self._task: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()

    def _configure(self, settings: Settings, web: WebConfig | None = None) -> None:
        """Everything taken from the settings, at start and on each reload (`web`: its web
        config, when already read)."""
        self.settings = settings
        self._static = settings.data_targets()
        self._seeds = settings.sentinel_targets()
        self.store.seeds = frozenset(t.address.instance for t in self._seeds)
        self._only = frozenset(settings.sentinel_master)
        self._shard = Shard(settings.shard, settings.total_shards)
        self._data_creds = settings.data_credentials()
        self._sentinel_creds = settings.sentinel_credentials()
        self._discovery_allows = settings.discovery_allows()
        self._max_nodes = settings.max_nodes
        self._server_names = settings.group_server_names()
        self.web = web if web is not None else settings.web_config()
        self.auth.users = dict(self.web.users)

    def reload(self) -> bool:
        """Reads the configuration again and applies it: changed targets are reconciled,
        nodes whose spec is unchanged keep their connection and counters. A configuration
        that fails keeps the running one."""
        if self._load is None:
            return False
        try:
            settings = self._load()
            web = settings.web_config()
            if (web.tls, self.web.tls) == (True, True) and self.server_context is not None:
                self.server_context.load_cert_chain(web.cert_file or "", web.key_file)
        except (ConfigError, OSError, ssl.SSLError, ValueError) as exc:
            problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            log.error(
                "reload failed, keeping the running configuration: %s",
                "; ".join(problems),
                extra={"event": "reload_failed"},
            )
            self.store.reload = replace(self.store.reload, successful=False)
            return False
        fixed = [
            name
            for name in ("listen_address", "log_level", "log_format")
            if getattr(settings, name) != getattr(self.settings, name)
        ]
        if web.tls != self.web.tls:
            fixed.append("web_config_file (turning TLS on or off)")
        if fixed:
            log.warning("reload: %s take effect only after a restart", ", ".join(fixed))
        forget_contexts()  # certificates renewed in place are read again
        self.poll = poll_settings(settings)
        self.store.interval = settings.poll_interval
        self.renderer.min_age = settings.metrics_min_age
        self.renderer.redis_only = settings.redis_only_metrics
        self.scraper.reconfigure(settings.scrape_rules(), self.poll, settings.mapped_credentials)
        self._configure(settings, web)
        for poller in self.pollers.values():
            poller.reconfigure(self.poll)
        self._rediscover()
        self.store.reload = ReloadState(True, time.time())
        log.info("configuration reloaded", extra={"event": "reload"})
        return True

    def app(self) -> Starlette:
        """The HTTP app; serving it runs the pollers."""
        return create_app(
            self.renderer,
            self.store,
            self.running,
            self.scraper,
            self.auth,
            self.reload if self.settings.web_enable_lifecycle else None,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        self._catch_signals()
        self._rediscover()
        self._task = asyncio.create_task(self._consume(), name="discovery")
        log.info(
            "polling %d static target(s) and %d Sentinel(s) every %gs",
            len(self._static),
            len(self._seeds),
            self.poll.interval,
        )
        for who, tls in (("data nodes", self.poll.data_tls), ("Sentinels", self.poll.sentinel_tls)):
            if not tls.verify:
                log.warning(
                    "TLS certificates of %s are not verified (--%sskip-tls-verification): "
                    "anyone between the exporter and them can read the password",
                    who,
                    "sentinel-" if who == "Sentinels" else "",
                )
        if self._shard.total > 1:
            static = (t.address.instance for t in self._static)
            log.info("%s", self._shard.describe(static, self._only))

    async def stop(self) -> None:
        """Stops every task within STOP_TIMEOUT, however many nodes; what has not stopped by
        then is left to the event loop's end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        pollers, watchers = list(self.pollers.values()), list(self._watchers.values())
        self.pollers.clear()
        self._watchers.clear()
        tasks = [
            *(asyncio.ensure_future(p.stop()) for p in pollers),
            *(asyncio.ensure_future(w.stop()) for w in watchers),
            *self._stopping,
            asyncio.ensure_future(self.scraper.close()),
        ]
        _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        if pending:
            log.warning(
                "%d of %d pollers and subscriptions did not stop within %gs; exiting without them",
                len(pending),
                len(tasks),
                STOP_TIMEOUT,
            )
        self._release_signals()

    def _catch_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in IGNORED_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._ignored, sig)

    def _release_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in IGNORED_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    def _ignored(self, sig: signal.Signals) -> None:
        if sig == getattr(signal, "SIGHUP", None):
            log.info("received SIGHUP: reloading the configuration")
            self.reload()
            return
        log.warning("received %s: ignored", signal.Signals(sig).name)

    # -- the discovery task --------------------------------------------------------------

    def _new_poller(self, spec: NodeSpec) -> NodePoller:
        poller: NodePoller

        def publish(snap: NodeSnapshot) -> None:
            self._queue.put_nowait(_Published(poller, snap))

        poller = NodePoller(spec, self.poll, sources.ALL, publish)
        return poller

    def _on_event(self, sentinel: str, channel: str, data: str) -> None:
        self._queue.put_nowait(_Event(sentinel, channel, data))

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                self._apply(batch)
            except Exception:  # a bug here must not stop every node's updates
                log.exception("discovery failed; keeping the current node set")

    def _apply(self, batch: list[_Published | _Event]) -> None:
        self._descriptors.check(time.monotonic())
        rediscover = False
        for item in batch:
            if isinstance(item, _Event):
                log.debug("sentinel %s event %s %s", item.sentinel, item.channel, item.data)
                for poller in self.pollers.values():
                    if poller.snapshot.kind == "sentinel" or poller.spec.kind == "sentinel":
                        poller.poke()
                continue
            snap = item.snapshot
            if self.pollers.get(snap.instance) is not item.poller:
                continue  # a poller being stopped may still finish one poll
            before = self.store.nodes.get(snap.instance)
            if before is not None and before.role and snap.role and before.role != snap.role:
                log.info(
                    "node %s changed role: %s -> %s",
                    snap.instance,
                    _ROLE_NAMES.get(before.role, before.role),
                    _ROLE_NAMES.get(snap.role, snap.role),
                    extra={"event": "role_change", "instance": snap.instance},
                )
            self.store.put(snap)
            self._check_seed(snap)
            if snap.kind == "sentinel" or before is None or before.identity != snap.identity:
                rediscover = True
        if rediscover:
            self._rediscover()

    def _owner_of(self, instance: str) -> str | None:
        """The shard that exports `instance` when another one does (for /scrape)."""
        index = self._owners.get(instance)
        return None if index is None else f"shard {index} of {self._shard.total}"

    def _check_seed(self, snap: NodeSnapshot) -> None:
        """One warning for a --sentinel-addr that answers as a data node (6379 typed for
        26379): it is polled as one, and no group is discovered through it."""
        if not snap.up or snap.kind != "data" or snap.instance not in self.store.seeds:
            return
        if snap.instance in self._logged_not_sentinel:
            return
        self._logged_not_sentinel.add(snap.instance)
        log.warning(
            "--sentinel-addr %s is not a Sentinel but a data node (%s): polling it as one, "
            "and no group is discovered through it; Sentinels listen on port 26379 by default",
            snap.instance,
            _ROLE_NAMES.get(snap.role, snap.role) or "unknown role",
            extra={"event": "not_a_sentinel", "instance": snap.instance},
        )

    def _rediscover(self) -> None:
        topology = derive_nodes(
            self._static,
            self._seeds,
            [*self.store.nodes.values(), *self._handed_off.values()],
            self.specs,
            data_credentials=self._data_creds,
            sentinel_credentials=self._sentinel_creds,
            aliases=self._aliases,
            allow=self._allowed,
            max_nodes=self._max_nodes,
            tls_data=self.settings.tls_discovered_nodes,
            server_names=self._server_names,
        )
        self._report_limits(topology.rejected, topology.capped)
        for alias, canonical in topology.aliases.items():
            if (alias, canonical) not in self._logged_aliases:
                self._logged_aliases.add((alias, canonical))
                log.info(
                    "node %s is the same server as %s; polling it once, as %s",
                    alias,
                    canonical,
                    canonical,
                )
        self._aliases = topology.aliases
        self.specs = topology.specs
        mine = share(topology.specs, self._shard)
        for key, why in mine.elsewhere.items():
            if key not in self._logged_keys:
                self._logged_keys.add(key)
                log.info("%s", why)
        before = self.store.groups
        groups = track_failovers(before, topology.steering, time.time())
        groups = {name: state for name, state in groups.items() if self._shard.owns(name)}
        self.store.set_groups(groups)
        self.store.unexported = mine.unexported
        self._owners = mine.owners
        self._reconcile(mine.polled)
        for name, state in groups.items():
            old = before.get(name)
            if old is not None and old != state:
                # The Sentinels name a new master: re-poll the group now, not at the next tick.
                for poller in self.pollers.values():
                    if name in poller.spec.groups:
                        poller.poke()

    def _allowed(self, address: RedisAddress) -> bool:
        return address.scheme != "unix" and self._discovery_allows(address.host, address.port)

    def _report_limits(
        self, rejected: Mapping[str, frozenset[str]], capped: frozenset[str]
    ) -> None:
        """One warning per node a group names outside --discovery-allow, one line each time
        the count of nodes beyond --max-nodes changes; both as metrics."""
        for group, instances in sorted(rejected.items()):
            for instance in sorted(instances):
                if (group, instance) not in self._logged_rejected:
                    self._logged_rejected.add((group, instance))
                    log.warning(
                        "Sentinel group %s names %s, outside --discovery-allow: not contacting it",
                        group,
                        instance,
                        extra={
                            "event": "discovery_rejected",
                            "master_name": group,
                            "instance": instance,
                        },
                    )
        before = self.store.discovery.capped
        if len(capped) != before:
            if capped:
                log.warning(
                    "discovery found %d node(s) beyond --max-nodes %d; not polling them "
                    "(raise --max-nodes, or shard)",
                    len(capped),
                    self._max_nodes,
                    extra={"event": "discovery_capped"},
                )
            else:
                log.info(
                    "every discovered node is within --max-nodes again",
                    extra={"event": "discovery_capped"},
                )
        self.store.discovery = DiscoveryLimits(
            {group: len(instances) for group, instances in rejected.items()}, len(capped)
        )

    def _reconcile(self, specs: dict[str, NodeSpec]) -> None:
        """Pollers for `specs`, the nodes this shard polls, and for nothing else."""
        self._handed_off = {
            i: snap for i, snap in self._handed_off.items() if i in self.specs and i not in specs
        }
        for instance in set(self.pollers) - set(specs):
            snap = self.store.nodes.get(instance)
            if instance in self.specs and snap is not None:
                log.info(
                    "node %s now belongs to another shard; dropping its series",
                    instance,
                    extra={"event": "node_removed", "instance": instance},
                )
                self._handed_off[instance] = snap
            elif instance not in self._aliases:
                log.info(
                    "node %s is no longer part of the topology; dropping its series",
                    instance,
                    extra={"event": "node_removed", "instance": instance},
                )
            self.store.remove(instance)
            self._later(self.pollers.pop(instance).stop())
            watcher = self._watchers.pop(instance, None)
            if watcher is not None:
                self._later(watcher.stop())
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
                        extra={"event": "node_added", "instance": instance},
                    )
                poller = self.pollers[instance] = self._new_poller(spec)
                poller.start()
            elif poller.spec != spec:
                poller.update(spec)
            if spec.kind == "sentinel" and instance not in self._watchers:
                watcher = SentinelEvents(
                    spec,
                    self.poll.timeout,
                    max(self.poll.interval, 1.0) * 4,
                    self._on_event,
                    self.poll.set_client_name,
                    self.poll.sentinel_tls,
                )
                self._watchers[instance] = watcher
                watcher.start()

    def _later(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
