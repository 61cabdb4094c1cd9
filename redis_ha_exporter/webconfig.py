"""`--web-config-file`: TLS and basic authentication for the exporter's own endpoints, in the
file format of Prometheus's exporter-toolkit, so the file an operator has for node_exporter or
redis_exporter works here (and `promtool check web-config` checks it).

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_ca_file: ca.crt                   # with client_auth_type
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$10$...                   # bcrypt, as `htpasswd -nbBC 10` makes it

Relative paths are relative to the file, as exporter-toolkit reads them.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import ssl
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# exporter-toolkit's other two ask for a certificate without verifying it, which Python's ssl
# module cannot do; refusing them is better than verifying silently or not at all.
_UNSUPPORTED_AUTH = ("RequestClientCert", "RequireAnyClientCert")
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_ca_file",
    "client_auth_type",
    "min_version",
    "max_version",
    # exporter-toolkit's, accepted and not used: Python picks ciphers and curves itself.
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
}
_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}


class WebConfigError(ValueError):
    """The file cannot be used; the message says why (never a password hash)."""


def read_yaml(path: Path) -> Any:
    """A YAML file's contents. Errors say where, never what: PyYAML's own messages quote the
    offending line, which may hold a password or a hash, and span several lines."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WebConfigError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise WebConfigError(f"{str(path)!r} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise WebConfigError(f"{str(path)!r} is not valid YAML{line}") from None


@dataclass(frozen=True, slots=True)
class WebConfig:
    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2  # exporter-toolkit's default
    max_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def server_context(self) -> ssl.SSLContext | None:
        """The listening socket's TLS; None without `tls_server_config`."""
        if self.cert_file is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self.min_version
        context.maximum_version = self.max_version
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file is not None:
            context.load_verify_locations(self.client_ca_file)
        context.verify_mode = self.client_auth
        return context


def load_web_config(path: Path) -> WebConfig:
    """The file parsed and checked: its certificates load, its hashes are bcrypt's."""
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise WebConfigError(f"{str(path)!r} must be a mapping")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise WebConfigError(f"unknown key(s) {', '.join(unknown)}")
    config = _tls(data.get("tls_server_config") or {}, path.parent)
    users = _users(data.get("basic_auth_users") or {})
    config = replace(config, users=users)
    try:
        config.server_context()
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"tls_server_config cannot be used: {exc}") from None
    return config


def _tls(raw: Any, base: Path) -> WebConfig:
    if not isinstance(raw, dict):
        raise WebConfigError("tls_server_config must be a mapping")
    unknown = sorted(set(raw) - _TLS_KEYS)
    if unknown:
        raise WebConfigError(f"unknown key(s) in tls_server_config: {', '.join(unknown)}")
    if not raw:
        return WebConfig()

    def path(key: str) -> str | None:
        value = raw.get(key)
        if value in (None, ""):
            return None
        full = base / str(value)
        if not full.is_file():
            raise WebConfigError(f"tls_server_config.{key}: no file {str(full)!r}")
        return str(full)

    cert, key = path("cert_file"), path("key_file")
    if cert is None or key is None:
        raise WebConfigError("tls_server_config needs both cert_file and key_file")
    auth_name = raw.get("client_auth_type") or "NoClientCert"
    if auth_name in _UNSUPPORTED_AUTH:
        raise WebConfigError(
            f"client_auth_type {auth_name} is not supported (it takes a certificate without "
            "verifying it); use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        )
    if auth_name not in _CLIENT_AUTH:
        raise WebConfigError(f"unknown client_auth_type {auth_name!r}")
    ca = path("client_ca_file")
    if auth_name != "NoClientCert" and ca is None:
        raise WebConfigError(f"client_auth_type {auth_name} needs client_ca_file")
    versions = []
    for key_name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = raw.get(key_name) or default
        if name not in _VERSIONS:
            raise WebConfigError(f"tls_server_config.{key_name}: unknown version {name!r}")
        versions.append(_VERSIONS[name])
    return WebConfig(cert, key, ca, _CLIENT_AUTH[auth_name], versions[0], versions[1])


def _users(raw: Any) -> dict[str, bytes]:
    if not isinstance(raw, dict):
        raise WebConfigError("basic_auth_users must be a mapping of user to bcrypt hash")
    users = {}
    for user, hashed in raw.items():
        text = str(hashed or "")
        if not text.startswith(("$2a$", "$2b$", "$2y$")) or len(text) != 60:
            raise WebConfigError(f"basic_auth_users.{user}: not a bcrypt hash")
        users[str(user)] = text.encode()
    return users


class BasicAuth:
    """Checks `Authorization: Basic` against bcrypt hashes. A check costs about 70 ms at cost
    10, so it runs in a thread and its answer is kept, keyed by a digest of the credentials
    (as exporter-toolkit does), so Prometheus pays it once. An unknown user is checked against
    a dummy hash, so that the time does not tell which users exist."""

    CACHE = 1024

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._cache: OrderedDict[str, bool] = OrderedDict()
        self._key = os.urandom(32)  # per process: the digests are ours
        self._dummy = b""
        self.users = users

    @property
    def users(self) -> Mapping[str, bytes]:
        return self._users

    @users.setter
    def users(self, users: Mapping[str, bytes]) -> None:
        """New users (a reload): answers kept for the old ones go. bcrypt is loaded, and the
        dummy hash made (70 ms), only once there are users: without them nothing is checked."""
        self._users = dict(users)
        self._cache.clear()
        if self._users and not self._dummy:
            import bcrypt

            self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(10))

    async def allows(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        if not sep:
            return False
        digest = hmac.new(self._key, f"{user}\0{password}".encode(), "sha256").hexdigest()
        known = self._cache.get(digest)
        if known is not None:
            self._cache.move_to_end(digest)
            return known
        hashed = self._users.get(user)
        candidate = hashed if hashed is not None else self._dummy
        import bcrypt

        ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), candidate)
        ok = ok and hashed is not None
        self._cache[digest] = ok
        if len(self._cache) > self.CACHE:
            self._cache.popitem(last=False)
        return ok
