"""Parsing of Redis target addresses (`redis://`, `rediss://`, `unix://`, bare `host:port`).

An address never carries its credentials into `str()`, `repr()` or the `instance` label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

Scheme = Literal["redis", "rediss", "unix"]
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
_SCHEMES: dict[str, Scheme] = {
    "redis": "redis",
    "rediss": "rediss",
    "unix": "unix",
    # Valkey clients accept these spellings; they mean the same wire protocol.
    "valkey": "redis",
    "valkeys": "rediss",
}


class AddressError(ValueError):
    """An address that cannot be used; the message never contains credentials."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where a node listens. `instance` is the label value: `host:port` or the socket path."""

    scheme: Scheme
    host: str = ""
    port: int = DEFAULT_PORT
    path: str = ""
    db: int = 0
    username: str | None = field(default=None, compare=False)
    password: SecretStr | None = field(default=None, compare=False, repr=False)

    @property
    def instance(self) -> str:
        if self.scheme == "unix":
            return self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    def redacted(self) -> str:
        """The URL with any password replaced, for logs and `check-config`."""
        user = ""
        if self.username or self.password:
            user = (self.username or "") + (":********" if self.password else "") + "@"
        if self.scheme == "unix":
            return f"unix://{user}{self.path}"
        return f"{self.scheme}://{user}{self.instance}" + (f"/{self.db}" if self.db else "")

    def __str__(self) -> str:
        return self.redacted()


_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _safe(text: str) -> str:
    """`text` with anything that could be userinfo removed, fit to quote in an error."""
    if "@" not in text:
        return text
    match = _SCHEME_PREFIX.match(text)
    scheme = match.group(0) if match and "@" not in match.group(0) else ""
    return f"{scheme}***@{text.rsplit('@', 1)[-1]}"


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> RedisAddress:
    """Parse one target; raise AddressError with a message that is safe to print.

    `default_port` applies when the text names none: DEFAULT_SENTINEL_PORT for Sentinels.
    """
    raw = text.strip()
    if not raw:
        raise AddressError("empty address")
    if "://" not in raw:
        raw = "redis://" + raw
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise AddressError(f"cannot parse address {_safe(text)!r}: {exc}") from None
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        allowed = ", ".join(f"{s}://" for s in ("redis", "rediss", "unix"))
        raise AddressError(
            f"unknown scheme {parts.scheme!r} in {_safe(text)!r} (use {allowed} or host:port)"
        )
    username = unquote(parts.username) if parts.username else None
    password = SecretStr(unquote(parts.password)) if parts.password else None
    if scheme == "unix":
        path = parts.path
        if not path:
            raise AddressError(f"unix address {_safe(text)!r} has no socket path")
        return RedisAddress("unix", path=path, username=username, password=password)
    try:
        port = parts.port
    except ValueError:
        raise AddressError(f"bad port in {_safe(text)!r}: must be 1-65535") from None
    if port == 0:
        raise AddressError(f"bad port in {_safe(text)!r}: must be 1-65535")
    host = parts.hostname or ""
    if not host:
        raise AddressError(f"no host in {_safe(text)!r}")
    db = 0
    dbpart = parts.path.strip("/")
    if dbpart:
        if not (dbpart.isascii() and dbpart.isdigit()):
            raise AddressError(f"bad database number {dbpart!r} in {_safe(text)!r}")
        db = int(dbpart)
    return RedisAddress(
        scheme,
        host=host,
        port=port or default_port,
        db=db,
        username=username,
        password=password,
    )
