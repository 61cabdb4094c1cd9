"""One asyncio task per node: persistent connection, per-poll deadline, backoff with jitter,
and a fresh immutable snapshot handed over after every poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from exporter.address import RedisAddress
from exporter.config import Credentials
from exporter.connection import make_client
from exporter.snapshot import NodeKind, NodeSnapshot
from exporter.sources import slowlog as slowlog_source
from exporter.sources.info import DATA_SECTIONS, field, version_tuple
from exporter.sources.node import DataPlan, fetch_data, fetch_info
from exporter.sources.sentinel import fetch_sentinel

log = logging.getLogger("exporter.poller")


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
class PollSettings:
    interval: float
    timeout: float
    slowlog_fetch: int = 128
    config_refresh_polls: int = 6
    max_backoff_intervals: float = 4.0


def describe_error(exc: BaseException, timeout: float, secrets: tuple[str, ...] = ()) -> str:
    """A short, secret-free reason for `redis_exporter_last_scrape_error` and the log."""
    text = str(exc)
    upper = text.upper()
    if isinstance(exc, AuthenticationError) or "WRONGPASS" in upper or "INVALID PASSWORD" in upper:
        reason = "authentication failed: invalid username or password"
    elif "NOAUTH" in upper:
        reason = "authentication failed: the server requires a password and none is configured"
    elif "WITHOUT ANY PASSWORD CONFIGURED" in upper:
        reason = "authentication failed: a password is configured but the server has none"
    elif isinstance(exc, (asyncio.TimeoutError, RedisTimeoutError)):
        reason = f"timeout: no reply within {timeout:g}s"
    elif isinstance(exc, RedisConnectionError):
        reason = f"connection failed: {text or type(exc).__name__}"
    elif isinstance(exc, ResponseError):
        reason = f"error reply: {text}"
    else:
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    for secret in secrets:
        if secret:
            reason = reason.replace(secret, "********")
    return reason[:300]


class NodePoller:
    """Polls one node on its own cadence until stopped; never raises out of its task."""

    def __init__(
        self,
        spec: NodeSpec,
        settings: PollSettings,
        publish: Callable[[NodeSnapshot], None],
    ) -> None:
        self.spec = spec
        self.settings = settings
        self._publish = publish
        self._client: Redis | None = None
        self._connected = False
        self._reused = False
        self._failures = 0
        self._refused: set[str] = set()
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.snapshot = NodeSnapshot(spec.instance, spec.kind, spec.groups)
        self._version: tuple[int, ...] = ()
        self._secrets = tuple(
            s.get_secret_value()
            for s in (spec.credentials.password, spec.address.password)
            if s is not None
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"poll {self.spec.instance}")

    def poke(self) -> None:
        """Poll now rather than at the next tick (after a Sentinel event)."""
        self._poke.set()

    def update(self, spec: NodeSpec) -> None:
        """New group membership or kind hint from discovery; the connection is kept."""
        self.spec = spec
        if spec.groups != self.snapshot.groups:
            self.snapshot = replace(self.snapshot, groups=spec.groups)
            self._publish(self.snapshot)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()

    # -- the loop ------------------------------------------------------------------

    def _phase(self) -> float:
        """Where in the interval this node is polled: spread by address, stable across
        restarts, so many nodes are not hit in lock-step."""
        return zlib.crc32(self.spec.instance.encode()) / 2**32

    def _backoff(self) -> float:
        """Delay before retrying a failing node: doubling from one interval, capped, jittered."""
        interval = self.settings.interval
        backoff = min(
            interval * 2 ** (self._failures - 1), interval * self.settings.max_backoff_intervals
        )
        return float(backoff * random.uniform(0.8, 1.2))

    async def _run(self) -> None:
        # The first poll comes soon after start (spread over at most a second, so /ready is
        # quick); the second moves the node to its own phase of the interval.
        interval = self.settings.interval
        await self._sleep(self._phase() * min(interval, 1.0))
        next_at = time.monotonic() + self._phase() * interval - interval
        while True:
            ok = await self.poll_once()
            now = time.monotonic()
            if ok:
                next_at += interval
                if next_at < now:  # an overrun skips the missed ticks instead of bursting
                    next_at += ((now - next_at) // interval + 1) * interval
            else:
                next_at = now + self._backoff()
            if await self._sleep(next_at - time.monotonic()):
                next_at = time.monotonic()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep until the deadline or a poke; True if poked."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._poke.wait(), timeout=max(seconds, 0))
        poked = self._poke.is_set()
        self._poke.clear()
        return poked

    async def _disconnect(self) -> None:
        client, self._client, self._connected = self._client, None, False
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def poll_once(self) -> bool:
        """One poll; the snapshot it publishes records success or the reason for failure."""
        started_wall, started = time.time(), time.monotonic()
        prev = self.snapshot
        try:
            async with asyncio.timeout(self.settings.timeout):
                try:
                    snap, connect_time = await self._attempt(prev)
                except RedisConnectionError:
                    if not self._reused:
                        raise
                    # The server closed a connection we had kept (a replica being
                    # reconfigured, `timeout`, CLIENT KILL): that says nothing about the
                    # node being down, so reconnect and try once more within the deadline.
                    await self._disconnect()
                    snap, connect_time = await self._attempt(prev)
        except (TimeoutError, RedisError, OSError) as exc:
            return await self._failed(exc, prev, started_wall, started)
        duration = time.monotonic() - started
        if self._failures:
            log.info("node %s is back up", self.spec.instance)
        elif prev.polls == 0:
            log.info("node %s polled: %s", self.spec.instance, snap.kind)
        self._failures = 0
        self.snapshot = replace(
            snap,
            up=True,
            error="",
            polled_at=time.time(),
            duration=duration,
            connect_time=connect_time,
            last_success_at=time.time(),
            polls=prev.polls + 1,
            poll_seconds_total=prev.poll_seconds_total + duration,
        )
        self._publish(self.snapshot)
        return True

    async def _attempt(self, prev: NodeSnapshot) -> tuple[NodeSnapshot, float]:
        connect_time = 0.0
        self._reused = self._connected
        if self._client is None:
            self._client = make_client(
                self.spec.address, self.spec.credentials, self.settings.timeout
            )
        if not self._connected:
            t0 = time.monotonic()
            await self._client.execute_command("PING")  # type: ignore[no-untyped-call]
            connect_time = time.monotonic() - t0
            self._connected = True
            self._refused.clear()
        return await self._poll_node(self._client, prev), connect_time

    async def _failed(
        self, exc: BaseException, prev: NodeSnapshot, started_wall: float, started: float
    ) -> bool:
        # The connection may hold an unread reply; only a fresh one is trustworthy.
        await self._disconnect()
        reason = describe_error(exc, self.settings.timeout, self._secrets)
        self._failures += 1
        if self._failures == 1 or reason != prev.error:
            log.warning("node %s is down: %s", self.spec.instance, reason)
        else:
            log.debug("node %s still down: %s", self.spec.instance, reason)
        duration = time.monotonic() - started
        self.snapshot = replace(
            prev,
            groups=self.spec.groups,
            up=False,
            error=reason,
            polled_at=time.time(),
            duration=duration,
            connect_time=0.0,
            polls=prev.polls + 1,
            poll_seconds_total=prev.poll_seconds_total + duration,
        )
        self._publish(self.snapshot)
        return False

    async def _poll_node(self, client: Redis, prev: NodeSnapshot) -> NodeSnapshot:
        kind = prev.kind if prev.kind != "unknown" else self.spec.kind
        if kind == "unknown":
            info = await fetch_info(client)
            kind = "sentinel" if _is_sentinel(info) else "data"
            self._version = version_tuple(field(info, "redis_version"))
        if kind == "sentinel":
            info, views = await fetch_sentinel(client)
            if not _is_sentinel(info):
                return await self._poll_node(client, replace(prev, kind="unknown"))
            return NodeSnapshot(
                self.spec.instance, "sentinel", self.spec.groups, info=info, sentinel_groups=views
            )
        return await self._poll_data(client, prev)

    async def _poll_data(self, client: Redis, prev: NodeSnapshot) -> NodeSnapshot:
        modern = self._version >= (7,)
        refresh = (
            not prev.config
            or prev.kind != "data"
            or prev.polls % self.settings.config_refresh_polls == 0
        )
        plan = DataPlan(
            info_args=DATA_SECTIONS if modern else ("ALL",),
            slowlog_fetch=self.settings.slowlog_fetch,
            slowlog="slowlog" not in self._refused,
            latency="latency" not in self._refused,
            config=refresh and "config" not in self._refused,
            config_multi=modern,
        )
        reply = await fetch_data(client, plan)
        if _is_sentinel(reply.info):
            self._version = version_tuple(field(reply.info, "redis_version"))
            return await self._poll_node(client, replace(prev, kind="sentinel"))
        for family, message in reply.refused.items():
            if family not in self._refused:
                self._refused.add(family)
                log.info(
                    "node %s refused %s (%s); polling it without %s from now on",
                    self.spec.instance,
                    family.upper(),
                    describe_error(ResponseError(message), 0, self._secrets),
                    family.upper(),
                )
        self._version = version_tuple(field(reply.info, "redis_version")) or self._version
        run_id = field(reply.info, "run_id")
        tally = prev.slowlog
        newest = prev.slowlog_newest
        if reply.slowlog_entries is not None:
            tally = slowlog_source.advance(tally, reply.slowlog_entries, run_id)
            newest = max(reply.slowlog_entries, key=lambda e: e.id, default=None)
        return NodeSnapshot(
            self.spec.instance,
            "data",
            self.spec.groups,
            info=reply.info,
            config=reply.config if reply.config is not None else prev.config,
            slowlog_len=reply.slowlog_len if "slowlog" not in self._refused else None,
            slowlog_newest=newest if "slowlog" not in self._refused else None,
            slowlog=tally,
            latency=reply.latency,
        )


def _is_sentinel(info: dict[str, dict[str, str]]) -> bool:
    mode = field(info, "redis_mode") or field(info, "server_mode")  # Valkey 8: server_mode
    return mode == "sentinel" or "sentinel" in info
