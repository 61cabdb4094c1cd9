"""redis.asyncio client factory for the Sentinel event subscriptions: one persistent
connection, our own timeouts and no hidden retries, and replies left raw for our parsers. (Polls
use `wire.py`.)

The client name is set best effort on every (re)connect: redis-py's own `client_name` fails
the connection when a least-privilege ACL user may not run CLIENT SETNAME.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, Connection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ResponseError
from redis.maint_notifications import MaintNotificationsConfig

from redis_ha_exporter.address import RedisAddress
from redis_ha_exporter.config import Credentials

CLIENT_NAME = "redis-ha-exporter"
# What every connection sends besides the sources' commands: PING when it is made, and the
# best-effort name (README: least privilege).
CONNECTION_ACL = ("+ping", "+client|setname")


class ClientName:
    """Names each new connection `redis-ha-exporter`; after the server refuses once, it
    stops asking and calls `on_refused` (one log line) instead of failing the connection."""

    def __init__(self, enabled: bool, on_refused: Callable[[ResponseError], None]) -> None:
        self.enabled = enabled
        self._on_refused = on_refused

    async def on_connect(self, connection: AbstractConnection) -> None:
        await connection.on_connect()  # authenticate and SELECT, as redis-py would
        if not self.enabled:
            return
        await connection.send_command("CLIENT", "SETNAME", CLIENT_NAME, check_health=False)
        try:
            await connection.read_response()
        except ResponseError as exc:
            self.refused(exc)

    def refused(self, exc: ResponseError) -> None:
        """The server said no: stop asking, say so once."""
        self.enabled = False
        self._on_refused(exc)


def make_client(
    address: RedisAddress,
    credentials: Credentials,
    timeout: float,
    client_name: ClientName | None = None,
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
        "redis_connect_func": client_name.on_connect if client_name else None,
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
        pool = BlockingConnectionPool(
            connection_class=_connection_class(address),
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


def _connection_class(address: RedisAddress) -> type[Connection]:
    if address.tls:
        from redis.asyncio.connection import SSLConnection

        return SSLConnection
    return Connection
