"""redis.asyncio client factory: one persistent connection per node, our own timeouts and
no hidden retries (the poller owns backoff), and replies left raw for our parsers."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from exporter.address import RedisAddress
from exporter.config import Credentials

try:
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # redis-py < 7
    MaintNotificationsConfig = None  # type: ignore[assignment,misc]
try:
    from redis.driver_info import DriverInfo
except ImportError:  # redis-py < 7.1
    DriverInfo = None  # type: ignore[assignment,misc]

CLIENT_NAME = "redis-ha-exporter"


def make_client(address: RedisAddress, credentials: Credentials, timeout: float) -> Redis:
    """A client whose pool holds at most one connection, reused across polls."""
    common: dict[str, Any] = {
        "username": credentials.username,
        "password": credentials.password.get_secret_value() if credentials.password else None,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "client_name": CLIENT_NAME,
        "retry": Retry(NoBackoff(), 0),
        "db": address.db,
        "protocol": 2,
    }
    # CLIENT SETINFO is unknown to Redis < 7.2 and to Sentinel: it would add an error reply
    # per connection to the server's counters.
    if DriverInfo is not None:
        common["driver_info"] = DriverInfo(name=None, lib_version=None)
    else:
        common |= {"lib_name": None, "lib_version": None}
    if MaintNotificationsConfig is not None:
        # redis-py >= 7 would otherwise send CLIENT MAINT_NOTIFICATIONS, an error reply on
        # every server that is not Redis Cloud.
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
