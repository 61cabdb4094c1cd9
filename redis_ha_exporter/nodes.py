"""A node to poll: its address, its credentials and the Sentinel groups it belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from redis_ha_exporter.address import RedisAddress
from redis_ha_exporter.config import Credentials
from redis_ha_exporter.snapshot import NodeKind


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node to poll. `kind` is a hint; the poll itself detects what the node is."""

    address: RedisAddress
    credentials: Credentials
    kind: NodeKind = "unknown"
    groups: tuple[str, ...] = ()
    static: bool = False
    # The TLS name its group's certificates carry (--tls-server-name-for), instead of
    # --tls-server-name.
    server_name: str | None = None

    @property
    def instance(self) -> str:
        return self.address.instance
