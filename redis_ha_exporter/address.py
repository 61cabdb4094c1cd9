"""Parsing of Redis target addresses (`redis://`, `rediss://`, `unix://`, bare `host:port`).

An address never carries its credentials into `str()`, `repr()` or the `instance` label.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
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
            user = (self.username or "") + ((":" + MASK) if self.password else "") + "@"
        if self.scheme == "unix":
            return f"unix://{user}{self.path}"
        return f"{self.scheme}://{user}{self.instance}" + (f"/{self.db}" if self.db else "")

    def __str__(self) -> str:
        return self.redacted()


MASK = "********"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret in it masked: the one place secrets are taken out of text.

    Only for text that came from outside (a server's reply, an exception's message), never
    for our own words: masking those would show which words a password is made of.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


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
    # The userinfo is cut off first, at the last `@` of the authority, so that nothing of it
    # (a password holding `/`, `?` or `#`, which a URL parser takes for the path) can reach
    # the parsed host, path or any message.
    prefix, _, rest = raw.partition("://")
    userinfo = None
    if "@" in rest and not rest.startswith("/"):
        userinfo, _, rest = rest.rpartition("@")
    try:
        parts = urlsplit(f"{prefix}://{rest}")
    except ValueError as exc:
        raise AddressError(f"cannot parse address {_safe(text)!r}: {exc}") from None
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        allowed = ", ".join(f"{s}://" for s in ("redis", "rediss", "unix"))
        raise AddressError(
            f"unknown scheme {parts.scheme!r} in {_safe(text)!r} (use {allowed} or host:port)"
        )
    username = password = None
    if userinfo is not None:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = SecretStr(unquote(secret)) if has_password and secret else None
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


# A host glob that can only mean addresses: digits, dots and wildcards (`10.0.*`), or an
# IPv6 form (a `:` is never part of a name).
_ADDRESS_GLOB = re.compile(r"(?=.*[0-9.])[0-9.*?\[\]!-]+|(?=.*:)[0-9a-f.:*?\[\]!-]+")


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address when it is one, an IPv4-mapped IPv6 address as its IPv4;
    None for a name."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True, slots=True)
class TargetPattern:
    """A `--scrape-allow` entry: a host glob or a CIDR, with a port glob (`*` when omitted).

    `10.0.0.0/8`, `10.0.0.0/8:6379`, `[fd00::/8]:6379`, `redis-*.example.com:63*`.
    """

    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    host_glob: str
    port_glob: str

    def matches(self, host: str, port: int) -> bool:
        """Whether `host:port` is inside. An IPv4 address written as IPv6 (`::ffff:10.0.0.1`)
        is matched as the IPv4 address it is; a glob that looks like an address (digits,
        dots and wildcards) matches addresses only, never a name such as `10.0.0.a.evil`."""
        if not fnmatch.fnmatchcase(str(port), self.port_glob):
            return False
        ip = ip_literal(host)
        if self.network is not None:
            # A name never matches a CIDR: resolving it would be its own risk.
            return ip is not None and ip.version == self.network.version and ip in self.network
        if _ADDRESS_GLOB.fullmatch(self.host_glob):
            return ip is not None and fnmatch.fnmatchcase(str(ip), self.host_glob)
        return fnmatch.fnmatchcase(
            ip.compressed if ip is not None else host.lower(), self.host_glob
        )

    def __str__(self) -> str:
        return self.text


def parse_target_pattern(text: str) -> TargetPattern:
    raw = text.strip()
    if not raw:
        raise AddressError("empty pattern")
    if "@" in raw or "://" in raw:
        raise AddressError(f"pattern {_safe(raw)!r} must be host[:port], not a URL")
    if raw.startswith("["):
        host, close, rest = raw[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise AddressError(f"pattern {raw!r}: expected [ipv6-host-or-cidr]:port")
        port = rest[1:] or "*"
    elif raw.count(":") > 1:  # a bare IPv6 address or network, no port
        host, port = raw, "*"
    else:
        host, _, port = raw.partition(":")
        port = port or "*"
    if not host or not re.fullmatch(r"[0-9*?\[\]!-]+", port):
        raise AddressError(f"pattern {raw!r}: expected host[:port] with a port glob")
    network = None
    if "/" in host:
        try:
            network = ipaddress.ip_network(host, strict=False)
        except ValueError:
            raise AddressError(f"pattern {raw!r}: {host!r} is not a CIDR network") from None
    else:
        try:
            network = ipaddress.ip_network(host)  # a single IP address
        except ValueError:
            network = None
    return TargetPattern(raw, network, host.lower(), port)
