"""A Sentinel's event subscription: one task per Sentinel, like a poller (backoff, PING,
reconnect), whose messages make the runtime poll the Sentinels again at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis_ha_exporter.config import TlsOptions
from redis_ha_exporter.nodes import NodeSpec
from redis_ha_exporter.replies import decode
from redis_ha_exporter.wire import ClientName

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger("redis_ha_exporter.events")

# A Sentinel's event subscription: any channel (`&*`; Sentinel has no key space) and SUBSCRIBE.
EVENTS_ACL = ("&*", "+subscribe")
EVENTS = ("+switch-master", "+sdown", "-sdown", "+odown", "+failover-end", "+slave", "+sentinel")


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
                        log.info(
                            "event subscription to %s restored",
                            self.spec.instance,
                            extra={"event": "subscription_up", "instance": self.spec.instance},
                        )
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
                    extra={"event": "subscription_down", "instance": self.spec.instance},
                )
            finally:
                if client is not None:
                    with contextlib.suppress(Exception):
                        # The pool is ours: closing only the client would leave its socket.
                        await client.aclose(close_connection_pool=True)
            delay = min(0.5 * 2 ** (failures - 1), self._max_backoff) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
