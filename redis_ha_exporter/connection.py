"""redis.asyncio client factory for the Sentinel event subscriptions: one persistent
connection, our own timeouts and no hidden retries, and replies left raw for our parsers. (Polls
use `wire.py`.)

The client name is set best effort on every (re)connect: redis-py's own `client_name` fails
the connection when a least-privilege ACL user may not run CLIENT SETNAME.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ResponseError
from redis.maint_notifications import MaintNotificationsConfig

from redis_ha_exporter.address import RedisAddress
from redis_ha_exporter.config import Credentials, TlsOptions
from redis_ha_exporter.wire import CLIENT_NAME, SYSTEM_TLS, ClientName, context_of


def _named(client_name: ClientName) -> Callable[[AbstractConnection], Awaitable[None]]:
    """redis-py's connect hook: authenticate and SELECT as it would, then name the connection
    best effort (its own `client_name` fails the connection when the ACL forbids SETNAME)."""

    async def on_connect(connection: AbstractConnection) -> None:
        await connection.on_connect()
        if not client_name.enabled:
            return
        await connection.send_command("CLIENT", "SETNAME", CLIENT_NAME, check_health=False)
        try:
            await connection.read_response()
        except ResponseError as exc:
            client_name.refused(exc)

    return on_connect


def make_client(
    address: RedisAddress,
    credentials: Credentials,
    timeout: float,
    client_name: ClientName | None = None,
    tls: TlsOptions | None = None,
) -> Redis:
    """A client whose pool holds at most one connection, reused across polls."""
    common: dict[str, Any] = {
        "username": credentials.username,
        "password": credentials.password.get_secret_value() if credentials.password else None,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "db": address.db,
        "protocol": 2,
        "redis_connect_func": _named(client_name) if client_name else None,
    }
    # CLIENT SETINFO is unknown to Redis < 7.2 and to Sentinel, and CLIENT
    # MAINT_NOTIFICATIONS to every server but Redis Cloud: either would add an error reply per
    # connection to the server's counters.
    common["driver_info"] = DriverInfo(name=None, lib_version=None)
    common["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    if address.scheme == "unix":
        pool = BlockingConnectionPool(
            connection_class=UnixDomainSocketConnection,
            path=address.path,
            max_connections=1,
            timeout=timeout,
            **common,
        )
    else:
        extra: dict[str, Any] = {"tls": tls or SYSTEM_TLS} if address.tls else {}
        pool = BlockingConnectionPool(
            connection_class=_TlsConnection if address.tls else Connection,
            **extra,
            host=address.host,
            port=address.port,
            max_connections=1,
            timeout=timeout,
            **common,
        )
    client = Redis(connection_pool=pool)
    # Raw replies: our parsers need the exact INFO text and SLOWLOG/SENTINEL arrays.
    client.response_callbacks.clear()
    return client


class _TlsConnection(SSLConnection):
    """redis-py's TLS connection with the context and server name the exporter's TLS options
    make, the ones polls use (`wire.tls_context`)."""

    def __init__(self, *, tls: TlsOptions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tls = tls

    def _connection_arguments(self) -> Mapping[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "ssl": context_of(self._tls),
            "server_hostname": self._tls.server_name or self.host,
        }
