"""`/scrape?target=host:port`, redis_exporter's multi-target pattern, served from the cache.

A node the exporter polls is answered from its cached series, without opening a connection.
A node it does not know is polled on demand only when it matches `--scrape-allow`, with the
credentials of the first pattern it matches (none for a pattern without); its connection is
kept for the next scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from redis_ha_exporter.address import AddressError, RedisAddress, ip_literal, parse_address
from redis_ha_exporter.config import Credentials, ScrapeRule
from redis_ha_exporter.exposition import Renderer, gzip_body, node_body
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.poller import NodePoller, PollSettings
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import Source

log = logging.getLogger("redis_ha_exporter.scrape")

# Query parameters other exporters take credentials from; we never do.
CREDENTIAL_PARAMS = frozenset({"password", "user", "username", "auth", "pass", "passwd"})


@dataclass(frozen=True, slots=True)
class Scraped:
    """The answer to one `/scrape`: an HTTP status and its body (gzip when `compressed`)."""

    status: int
    body: bytes
    compressed: bool = False


def _error(status: int, message: str) -> Scraped:
    return Scraped(status, (message + "\n").encode())


@dataclass(slots=True)
class _OnDemand:
    poller: NodePoller
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    used_at: float = 0.0


def parse_target(target: str, params: Mapping[str, str]) -> RedisAddress | Scraped:
    """The address named by `?target=`, or the 400 answer to a request that cannot be served."""
    extra = sorted(k for k in params if k != "target")
    if any(k.lower() in CREDENTIAL_PARAMS for k in extra):
        return _error(400, "credentials are never taken from the request; configure them")
    if extra:
        return _error(400, f"unknown parameter {extra[0]!r}; only target= is understood")
    if not target.strip():
        return _error(400, "missing target: use /scrape?target=host:port")
    if "@" in target:
        return _error(400, "the target must not carry credentials; configure them instead")
    try:
        address = parse_address(target)
    except AddressError as exc:
        return _error(400, f"bad target: {exc}")
    return address


def normalised(address: RedisAddress) -> RedisAddress:
    """`address` with its host spelt one way: an IP address compressed (an IPv4-mapped one as
    IPv4), a name in lower case."""
    if address.scheme == "unix":
        return address
    ip = ip_literal(address.host)
    host = ip.compressed if ip is not None else address.host.lower().rstrip(".")
    return replace(address, host=host) if host != address.host else address


class TargetScraper:
    """Answers `/scrape` from the renderer's per-node cache, or by an on-demand poll."""

    def __init__(
        self,
        renderer: Renderer,
        resolve: Callable[[str], str],
        allow: Sequence[ScrapeRule],
        settings: PollSettings,
        sources: Sequence[Source[Any]],
        max_on_demand: int = 256,
        mapped: Callable[[RedisAddress], Credentials | None] = lambda _: None,
        owner: Callable[[str], str | None] = lambda _: None,
    ) -> None:
        """`mapped`: an address's own credentials (redis_exporter's password file), used for
        a target whose pattern gives none; `owner`: the shard that exports a node this one
        does not (`shard 1 of 3`), if any."""
        self._renderer = renderer
        self._resolve = resolve
        self._allow = tuple(allow)
        self._mapped = mapped
        self._owner = owner
        self._settings = settings
        self._sources = sources
        self._max = max_on_demand
        self._idle_after = max(3 * settings.interval, 60.0)
        self._on_demand: dict[str, _OnDemand] = {}
        self._closing: set[asyncio.Future[None]] = set()
        self._polls = asyncio.Semaphore(16)

    async def scrape(
        self, target: str, params: Mapping[str, str], openmetrics: bool, compress: bool
    ) -> Scraped:
        address = parse_target(target, params)
        if isinstance(address, Scraped):
            return address
        address = normalised(address)
        instance = self._resolve(address.instance)
        body = self._renderer.render_node(instance, openmetrics, compress)
        if body is not None:
            return Scraped(200, body, compress)
        owner = self._owner(instance)
        if owner is not None:  # polling it here too would double its series
            return _error(421, f"{instance} is exported by {owner}: scrape that shard for it")
        if instance in self._renderer.store.nodes:
            return _error(503, f"{instance} has not been polled yet; try again shortly")
        credentials = self._credentials_for(address)
        if credentials is None:
            return _error(
                403, f"{instance} is not polled by this exporter and matches no --scrape-allow"
            )
        snap = await self._poll(address, credentials)
        body = node_body(snap, self._renderer.sources, openmetrics)
        if compress:
            body = gzip_body(body)
        return Scraped(200, body, compress)

    def _credentials_for(self, address: RedisAddress) -> Credentials | None:
        """The credentials of the first rule `address` matches; None when it matches none."""
        if address.scheme == "unix":
            return None
        for rule in self._allow:
            if rule.pattern.matches(address.host, address.port):
                if rule.credentials != Credentials():
                    return rule.credentials
                return self._mapped(address) or rule.credentials
        return None

    async def _poll(self, address: RedisAddress, credentials: Credentials) -> NodeSnapshot:
        now = time.monotonic()
        await self._evict(now)
        # One connection per server, however the target is spelt, and one per way of reaching
        # it: a rediss:// target is never answered from a plain connection, nor db 1 from db 0.
        key = f"{address.scheme}://{address.instance}/{address.db}"
        entry = self._on_demand.pop(key, None)
        if entry is None:
            spec = NodeSpec(address, credentials, static=True)
            entry = _OnDemand(NodePoller(spec, self._settings, self._sources, lambda _: None))
            log.info("polling %s on demand for /scrape (it matches --scrape-allow)", key)
        self._on_demand[key] = entry  # most recently used last
        entry.used_at = now
        async with self._polls, entry.lock:
            await entry.poller.poll_once()
            return entry.poller.snapshot

    async def _evict(self, now: float) -> None:
        idle = [i for i, e in self._on_demand.items() if now - e.used_at > self._idle_after]
        over = len(self._on_demand) - len(idle) - self._max + 1
        if over > 0:
            idle += [i for i in self._on_demand if i not in idle][:over]
        for instance in idle:
            await self._on_demand.pop(instance).poller.stop()

    def reconfigure(
        self,
        allow: Sequence[ScrapeRule],
        settings: PollSettings,
        mapped: Callable[[RedisAddress], Credentials | None],
    ) -> None:
        """A reload's patterns (with their credentials) and poll settings; the on-demand
        connections, made with the old ones, are closed."""
        self._allow = tuple(allow)
        self._mapped = mapped
        self._settings = settings
        self._idle_after = max(3 * settings.interval, 60.0)
        entries, self._on_demand = list(self._on_demand.values()), {}
        for entry in entries:
            closing = asyncio.ensure_future(entry.poller.stop())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        entries, self._on_demand = list(self._on_demand.values()), {}
        await asyncio.gather(
            *(e.poller.stop() for e in entries), *self._closing, return_exceptions=True
        )
