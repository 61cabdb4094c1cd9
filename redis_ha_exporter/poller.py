"""One asyncio task per node: its cadence, its persistent connection, the deadline of each
poll and the retry after a failure; each poll's snapshot is handed to `publish`.

What a poll asks and how replies become records is `redis_ha_exporter.poll`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from redis_ha_exporter.address import redact
from redis_ha_exporter.config import MAX_REPLY_BYTES, TlsOptions
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.poll import poll
from redis_ha_exporter.snapshot import AUTH_FAILED, NodeSnapshot
from redis_ha_exporter.sources.base import PollOptions, Source
from redis_ha_exporter.walk import walk, walking
from redis_ha_exporter.wire import (
    AuthError,
    ClientName,
    Link,
    LinkError,
    ReplyError,
    ReplyTooLarge,
    open_link,
)

log = logging.getLogger("redis_ha_exporter.poller")


@dataclass(frozen=True, slots=True)
class PollSettings:
    interval: float
    timeout: float
    options: PollOptions = field(default_factory=PollOptions)
    set_client_name: bool = True
    max_reply_bytes: int = MAX_REPLY_BYTES
    # Every password the exporter holds (Settings.secrets), masked in what servers say.
    secrets: tuple[str, ...] = ()
    data_tls: TlsOptions = field(default_factory=TlsOptions)
    sentinel_tls: TlsOptions = field(default_factory=TlsOptions)

    def tls_for(self, spec: NodeSpec) -> TlsOptions:
        """A Sentinel's TLS options for a node known to be one, the data nodes' for others,
        with the TLS name of the node's group when it has one."""
        if spec.kind == "sentinel":
            return self.sentinel_tls
        if spec.server_name is not None:
            return replace(self.data_tls, server_name=spec.server_name)
        return self.data_tls


# What to change, by the kind of node whose credentials failed.
_PASSWORD_FLAG = {
    "data": "--redis-password (REDIS_PASSWORD) or the target's password_file",
    "sentinel": "--sentinel-password (REDIS_SENTINEL_PASSWORD)",
}
_USER_FLAG = {"data": "--redis-user", "sentinel": "--sentinel-user"}


def _auth_reason(upper: str, exc: BaseException, kind: str, user: str | None) -> str | None:
    """The authentication failure a reply means, with the setting to change; None if the
    reply is not one."""
    server = "the Sentinel" if kind == "sentinel" else "the server"
    flag = _PASSWORD_FLAG.get(kind, _PASSWORD_FLAG["data"])
    if "WITHOUT ANY PASSWORD CONFIGURED" in upper:
        return (
            f"{AUTH_FAILED}: a password is configured but {server} has none; "
            f"remove {flag} for it, or set requirepass on it"
        )
    if "NOAUTH" in upper:
        return f"{AUTH_FAILED}: {server} requires a password and none is configured: {flag}"
    if isinstance(exc, AuthError) or "WRONGPASS" in upper or "INVALID PASSWORD" in upper:
        if user is None:
            return f"{AUTH_FAILED}: {server} refused the password: check {flag}"
        return (
            f"{AUTH_FAILED}: {server} refused the ACL user and password (or the user "
            f"is disabled): check {_USER_FLAG.get(kind, '--redis-user')} and {flag}"
        )
    return None


def describe_error(
    exc: BaseException,
    timeout: float,
    secrets: Sequence[str] = (),
    kind: str = "data",
    user: str | None = None,
) -> str:
    """A short, secret-free reason for `redis_exporter_last_scrape_error` and the log, naming
    the setting to change where there is one (`kind` and `user`: the node's, for an
    authentication failure). Only what came from outside (the exception's text, a server's
    words) is redacted."""
    text = redact(str(exc), secrets)
    upper = text.upper()
    auth = _auth_reason(upper, exc, kind, user)
    if auth is not None:
        reason = auth
    elif isinstance(exc, ReplyTooLarge):
        reason = f"{text} (--max-reply-bytes)"
    elif isinstance(exc, TimeoutError):
        reason = f"timeout: no reply within {timeout:g}s"
    elif isinstance(exc, LinkError):
        reason = f"connection failed: {text or type(exc).__name__}"
    elif isinstance(exc, OSError):
        # Refused, unreachable, unknown host, TLS: the OS's words, without errno noise.
        detail = text if isinstance(exc, ssl.SSLError) else exc.strerror or text
        reason = f"connection failed: {detail or type(exc).__name__}"
    elif isinstance(exc, ReplyError):
        reason = f"error reply: {text}"
    else:
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:300]


def phase(instance: str) -> float:
    """Where in the interval a node is polled, in [0, 1): spread by address and stable across
    restarts, so many nodes are not hit in lock-step."""
    return zlib.crc32(instance.encode()) / 2**32


def retry_delay(interval: float, rng: Callable[[float, float], float] = random.uniform) -> float:
    """After a failed poll, try again within one interval: a reconnect attempt per interval
    costs Redis nothing, and a node that is back shows `redis_up 1` within an interval plus
    the timeout. The jitter keeps many failed nodes from retrying in lock-step."""
    return interval * rng(0.75, 1.0)


def next_tick(next_at: float, now: float, interval: float) -> float:
    """The next poll time after a successful poll; an overrun skips the missed ticks
    instead of bursting to catch up."""
    next_at += interval
    if next_at < now:
        next_at += ((now - next_at) // interval + 1) * interval
    return next_at


class NodePoller:
    """Polls one node on its own cadence until stopped; never raises out of its task."""

    def __init__(
        self,
        spec: NodeSpec,
        settings: PollSettings,
        sources: Sequence[Source[Any]],
        publish: Callable[[NodeSnapshot], None],
    ) -> None:
        self.spec = spec
        self.settings = settings
        self._sources = sources
        self._walking = walking(sources)
        self._walk_error = ""  # why the last walks failed, "" when they did not
        self._publish = publish
        self._link: Link | None = None
        self._failures = 0
        self._name = ClientName(settings.set_client_name, self._name_refused)
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.snapshot = NodeSnapshot(spec.instance, spec.kind, spec.groups)
        self._secrets = self._secrets_of(settings, spec)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"poll {self.spec.instance}")

    def poke(self) -> None:
        """Poll now rather than at the next tick (after a Sentinel event)."""
        self._poke.set()

    def update(self, spec: NodeSpec) -> None:
        """New group membership or kind hint from discovery; the connection is kept unless
        the way to reach the node changed (a reload's new credentials or scheme)."""
        reach = (self.spec.address, self.spec.credentials, self.settings.tls_for(self.spec))
        self.spec = spec
        self._secrets = self._secrets_of(self.settings, spec)
        if (spec.address, spec.credentials, self.settings.tls_for(spec)) != reach:
            self._drop_link()
        if spec.groups != self.snapshot.groups:
            self.snapshot = replace(self.snapshot, groups=spec.groups)
            self._publish(self.snapshot)

    def reconfigure(self, settings: PollSettings) -> None:
        """A reload's poll settings. The snapshot and its counters stay; the connection too,
        unless what it was made with changed (TLS, the reply limit, the client name)."""
        old, self.settings = self.settings, settings
        self._secrets = self._secrets_of(settings, self.spec)
        made_with = (old.tls_for(self.spec), old.max_reply_bytes, old.set_client_name)
        if (settings.tls_for(self.spec), settings.max_reply_bytes, settings.set_client_name) != (
            made_with
        ):
            self._name.enabled = settings.set_client_name
            self._drop_link()

    def _drop_link(self) -> None:
        """The next poll connects afresh (one in flight fails over to a new connection)."""
        link, self._link = self._link, None
        if link is not None:
            link.close()

    @staticmethod
    def _secrets_of(settings: PollSettings, spec: NodeSpec) -> tuple[str, ...]:
        # Every password the exporter holds, and this node's own even when it is not among
        # them (a poller made for a test or a tool).
        own = (spec.credentials.password, spec.address.password)
        return (*settings.secrets, *(s.get_secret_value() for s in own if s))

    async def stop(self) -> None:
        # The flag as well as the cancel: Python 3.11's timeouts can turn a cancel that
        # lands as a poll times out into a TimeoutError, which a failed poll absorbs.
        self._stopped = True
        self._poke.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()

    # -- the loop ------------------------------------------------------------------

    async def _run(self) -> None:
        # The first poll comes soon after start (spread over at most a second, so /ready is
        # quick); the second moves the node to its own phase of the interval.
        interval = self.settings.interval
        offset = phase(self.spec.instance)
        await self._sleep(offset * min(interval, 1.0))
        next_at = time.monotonic() + offset * interval - interval
        while not self._stopped:
            started = time.monotonic()
            ok = await self.poll_once()
            now = time.monotonic()
            next_at = next_tick(next_at, now, interval) if ok else started + retry_delay(interval)
            # Walks end a tenth of the interval before the next tick, so the next poll is on
            # time; they wait for a poll with most of an interval ahead (not the first, which
            # moves the node to its phase and may be followed by the next one at once).
            if ok and self._walking and next_at - time.monotonic() > 0.5 * interval:
                await self.walk_once(next_at - 0.1 * interval)
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
        """Close the connection for good: the socket goes, not back to a pool."""
        link, self._link = self._link, None
        if link is not None:
            link.close()

    async def poll_once(self) -> bool:
        """One poll; the snapshot it publishes records success or the reason for failure."""
        started = time.monotonic()
        prev = replace(self.snapshot, groups=self.spec.groups)
        try:
            async with asyncio.timeout(self.settings.timeout):
                reused = self._link is not None
                try:
                    snap, connect_time = await self._attempt(prev)
                except LinkError as exc:
                    if not reused or isinstance(exc, ReplyTooLarge):
                        raise
                    # The server closed a connection we had kept (a replica being
                    # reconfigured, `timeout`, CLIENT KILL): that says nothing about the
                    # node being down, so reconnect and try once more within the deadline.
                    await self._disconnect()
                    snap, connect_time = await self._attempt(prev)
        except (TimeoutError, ReplyError, OSError) as exc:
            await self._failed(exc, prev, started)
            return False
        duration = time.monotonic() - started
        if self._failures:
            log.info(
                "node %s is back up",
                self.spec.instance,
                extra={"event": "node_up", "instance": self.spec.instance},
            )
        elif prev.polls == 0:
            log.info("node %s polled: %s", self.spec.instance, snap.kind)
        self._failures = 0
        now = time.time()
        self.snapshot = replace(
            snap,
            error="",
            polled_at=now,
            duration=duration,
            connect_time=connect_time,
            last_success_at=now,
            polls=prev.polls + 1,
            poll_seconds_total=prev.poll_seconds_total + duration,
        )
        self._publish(self.snapshot)
        return True

    async def walk_once(self, deadline: float) -> None:
        """The walking sources (key checks, Celery, key groups) after a successful poll, on
        its connection, done by `deadline` (monotonic); the snapshot they fill is published.
        A failure keeps their previous records and leaves the next poll a new connection."""
        link = self._link
        if link is None or self._stopped:
            return
        try:
            snap = await walk(
                link,
                self.snapshot,
                self._walking,
                self.settings.options,
                deadline,
                self.settings.timeout,
            )
        except (TimeoutError, ReplyError, OSError) as exc:
            await self._disconnect()
            reason = describe_error(exc, self.settings.timeout, self._secrets)
            # Once until a walk succeeds again, like a node that stays down.
            level = logging.DEBUG if self._walk_error else logging.WARNING
            self._walk_error = reason
            log.log(
                level,
                "node %s: its walks failed, keeping their last figures: %s",
                self.spec.instance,
                reason,
                extra={"event": "walk_failed", "instance": self.spec.instance},
            )
            return
        self._walk_error = ""
        if snap is not self.snapshot:
            self.snapshot = snap
            self._publish(snap)

    async def _attempt(self, prev: NodeSnapshot) -> tuple[NodeSnapshot, float]:
        connect_time = 0.0
        link = self._link
        if link is None:
            t0 = time.monotonic()
            link = self._link = await open_link(
                self.spec.address,
                self.spec.credentials,
                self._name,
                self.settings.max_reply_bytes,
                self.settings.tls_for(self.spec),
            )
            connect_time = time.monotonic() - t0
            prev = replace(prev, refused=frozenset())  # a new connection may be allowed more
        return await poll(link, prev, self._sources, self.settings.options), connect_time

    def _name_refused(self, exc: Exception) -> None:
        log.info(
            "node %s refused CLIENT SETNAME (%s); its connection stays unnamed",
            self.spec.instance,
            describe_error(exc, 0, self._secrets),
        )

    async def _failed(self, exc: BaseException, prev: NodeSnapshot, started: float) -> None:
        # The connection may hold an unread reply; only a fresh one is trustworthy.
        await self._disconnect()
        reason = describe_error(
            exc,
            self.settings.timeout,
            self._secrets,
            self.spec.kind,
            self.spec.credentials.username,
        )
        self._failures += 1
        if self._failures == 1 or reason != prev.error:
            log.warning(
                "node %s is down: %s",
                self.spec.instance,
                reason,
                extra={"event": "node_down", "instance": self.spec.instance},
            )
        else:
            log.debug("node %s still down: %s", self.spec.instance, reason)
        duration = time.monotonic() - started
        self.snapshot = replace(
            prev,
            up=False,
            error=reason,
            polled_at=time.time(),
            duration=duration,
            connect_time=0.0,
            polls=prev.polls + 1,
            poll_seconds_total=prev.poll_seconds_total + duration,
        )
        self._publish(self.snapshot)
