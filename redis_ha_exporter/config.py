"""Configuration: flags > environment > YAML file > defaults, validated once at start-up.

Each setting is declared once, on its field: an `Option` gives its flag, environment variables
and help text, from which `--help`, `check-config` and the README table are made. Every problem
is reported with the flag and environment variable that set it, and no secret ever appears in a
message. Password files are read once, here, when the settings are loaded.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from redis_ha_exporter import sources
from redis_ha_exporter.address import (
    DEFAULT_PORT,
    DEFAULT_SENTINEL_PORT,
    MASK,
    AddressError,
    RedisAddress,
    TargetPattern,
    ip_literal,
    parse_address,
    parse_target_pattern,
)
from redis_ha_exporter.sources.base import Setting
from redis_ha_exporter.webconfig import WebConfig, WebConfigError, load_web_config, read_yaml

# Where discovered nodes may be, unless --discovery-allow says otherwise.
PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",  # carrier-grade NAT, which some clouds use for pods
    "[::1/128]",
    "[fc00::/7]",
    "localhost",
    # Names of private namespaces: Kubernetes services, RFC 8375, ICANN's .internal, mDNS.
    "*.svc",
    "*.cluster.local",
    "*.internal",
    "*.home.arpa",
    "*.local",
    "*.localdomain",
)

# The default limit on the replies of one poll: real INFO replies are tens of kB and a full
# SLOWLOG a few hundred (the server truncates arguments), so only a broken or hostile server
# comes near it, and its reply alone is then held in memory.
MAX_REPLY_BYTES = 8 << 20

T = TypeVar("T")
DEFAULT_TARGET = "redis://localhost:6379"
# Settings holding addresses, with the port an address without one gets.
ADDRESS_PORTS = {"redis_addr": DEFAULT_PORT, "sentinel_addr": DEFAULT_SENTINEL_PORT}


@dataclass(frozen=True, slots=True)
class Option:
    """How a setting is given and documented; attached to its field with `Annotated`."""

    flag: str | None
    env: tuple[str, ...]
    help: str
    metavar: str | None = None
    default_text: str | None = None  # Markdown, when the default value alone would mislead
    aliases: tuple[str, ...] = ()  # other spellings of the flag


def option(
    flag: str | None,
    *env: str,
    help: str,
    metavar: str | None = None,
    default_text: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Option:
    return Option(flag, env, help, metavar, default_text, aliases)


class ConfigError(Exception):
    """Invalid configuration: `problems` holds one printable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _split(value: Any) -> Any:
    """Environment variables carry lists as comma-separated strings."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):  # `--redis.addr=` (redis_exporter's "no target") is no item
        return [item for item in value if not (isinstance(item, str) and not item.strip())]
    return value


def _read_secret(path: Path) -> SecretStr:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read password file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"password file {str(path)!r} is not UTF-8 text") from None
    # Files written by `echo` or Kubernetes secrets often end in a newline that is not
    # part of the password.
    return SecretStr(text.rstrip("\r\n"))


@dataclass(frozen=True, slots=True)
class SecretFile:
    """A password file as named in the configuration, with its contents as read at load."""

    path: Path
    secret: SecretStr = field(repr=False, compare=False)

    def __str__(self) -> str:
        return str(self.path)


def _load_secret_file(value: Any) -> SecretFile:
    if isinstance(value, SecretFile):
        return value
    if not isinstance(value, str | os.PathLike):
        raise ValueError("must be a file path")
    path = Path(value)
    return SecretFile(path, _read_secret(path))


# Read once, when validated: a later change of the file changes nothing until a restart.
PasswordFile = Annotated[
    SecretFile, PlainValidator(_load_secret_file), PlainSerializer(str, return_type=str)
]


@dataclass(frozen=True, slots=True)
class PasswordMap:
    """redis_exporter's `--redis.password-file`: a JSON object of address to password, as
    read at load. Entries are matched by host and port (`redis://`, `rediss://` and bare
    `host:port` keys alike); an entry with a user (`redis://user@host:port`) sets the ACL user
    too, and of two entries for one server the one naming `user` wins, then the one naming
    none."""

    path: Path
    entries: tuple[tuple[str, str | None, SecretStr], ...] = field(repr=False, compare=False)

    def __str__(self) -> str:
        return str(self.path)

    def lookup(self, address: RedisAddress, user: str | None) -> Credentials | None:
        found = [(u, pw) for instance, u, pw in self.entries if instance == address.instance]
        for wanted in (user, None):
            for entry_user, password in found:
                if entry_user == wanted:
                    return Credentials(entry_user or user, password)
        if found:
            return Credentials(found[0][0], found[0][1])
        return None

    def secrets(self) -> list[str]:
        return [pw.get_secret_value() for _, _, pw in self.entries]


def _load_password_map(value: Any) -> PasswordMap:
    if isinstance(value, PasswordMap):
        return value
    if not isinstance(value, str | os.PathLike):
        raise ValueError("must be a file path")
    path = Path(value)
    hint = (
        f"{str(path)!r} is not redis_exporter's JSON object of address to password; for a "
        "file holding one password use --redis-password-file (REDIS_EXPORTER_REDIS_PASSWORD_FILE)"
    )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read password file {str(path)!r}: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError):
        raise ValueError(hint) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(hint)
    entries = []
    for key, password in data.items():
        try:
            address = parse_address(str(key))
        except AddressError as exc:
            raise ValueError(f"password file {str(path)!r}: {exc}") from None
        if password:  # redis_exporter's files list servers without one as ""
            entries.append((address.instance, address.username, SecretStr(password)))
    return PasswordMap(path, tuple(entries))


PasswordMapFile = Annotated[
    PasswordMap, PlainValidator(_load_password_map), PlainSerializer(str, return_type=str)
]


class TargetConfig(BaseModel):
    """One statically configured node with its own credentials (YAML `targets:` only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    addr: str
    user: str | None = None
    password: SecretStr | None = None
    password_file: PasswordFile | None = None

    @field_validator("addr")
    @classmethod
    def _addr(cls, value: str) -> str:
        parse_address(value)
        return value

    @model_validator(mode="after")
    def _one_password(self) -> TargetConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give either password or password_file, not both")
        return self


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str | None = None
    password: SecretStr | None = None


class ScrapeAllowConfig(BaseModel):
    """A YAML `scrape_allow:` entry with the credentials for the targets it admits. A plain
    pattern (a flag, the environment, a string in the YAML list) admits targets without any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str
    user: str | None = None
    password: SecretStr | None = None
    password_file: PasswordFile | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        parse_target_pattern(value)
        return value

    @model_validator(mode="after")
    def _one_password(self) -> ScrapeAllowConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give either password or password_file, not both")
        return self

    def credentials(self) -> Credentials:
        password = self.password
        if self.password_file is not None:
            password = self.password_file.secret
        return Credentials(self.user, password)


@dataclass(frozen=True, slots=True)
class ScrapeRule:
    """An on-demand `/scrape` target matching `pattern` is polled with `credentials`; the
    first matching rule wins."""

    pattern: TargetPattern
    credentials: Credentials


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How `rediss://` connections to one kind of node (data nodes, or Sentinels) are made:
    redis_exporter's flags. The defaults are the system's CAs and the host name checked."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None  # the name sent (SNI) and verified instead of the host
    verify: bool = True

    def context(self) -> ssl.SSLContext:
        """A client context; raises OSError or ssl.SSLError when a file cannot be used."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved node address with the credentials to use for it."""

    address: RedisAddress
    credentials: Credentials


class _CoreSettings(BaseSettings):
    """The exporter's own settings; `Settings` adds those the sources declare."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    config_file: Annotated[
        Path | None,
        option(
            "--config-file",
            "REDIS_EXPORTER_CONFIG_FILE",
            metavar="PATH",
            help="YAML file with any of these settings (snake_case keys) and per-target "
            "credentials under `targets:`",
        ),
    ] = None
    redis_addr: Annotated[
        list[str],
        option(
            "--redis-addr",
            "REDIS_ADDR",
            "REDIS_URL",
            metavar="URL",
            aliases=("--redis.addr",),
            help="a data node: `redis://host:port[/db]`, `rediss://` (TLS), `unix:///path`, "
            "or bare `host:port`",
            default_text="`redis://localhost:6379` when no target and no Sentinel is given",
        ),
    ] = Field(default_factory=list)
    redis_user: Annotated[
        str | None,
        option(
            "--redis-user",
            "REDIS_USER",
            metavar="USER",
            help="ACL username for data nodes",
            aliases=("--redis.user",),
        ),
    ] = None
    redis_password: Annotated[
        SecretStr | None,
        option(
            "--redis-password",
            "REDIS_PASSWORD",
            metavar="PASSWORD",
            aliases=("--redis.password",),
            help="password for data nodes; as a flag it prints a warning, since other users "
            "can read a process's arguments",
        ),
    ] = None
    redis_password_file: Annotated[
        PasswordFile | None,
        option(
            "--redis-password-file",
            "REDIS_EXPORTER_REDIS_PASSWORD_FILE",
            metavar="PATH",
            help="file holding that password (a trailing newline is ignored), read at start-up "
            "and on reload",
        ),
    ] = None
    redis_password_map: Annotated[
        PasswordMapFile | None,
        option(
            "--redis-password-map",
            "REDIS_PASSWORD_FILE",
            metavar="PATH",
            aliases=("--redis.password-file",),
            help="redis_exporter's password file: a JSON object of address to password, for "
            "the data nodes and /scrape targets it names, when no --redis-password is given",
        ),
    ] = None
    sentinel_addr: Annotated[
        list[str],
        option(
            "--sentinel-addr",
            "REDIS_SENTINEL_ADDR",
            metavar="URL",
            help="a Sentinel to discover the topology from; port 26379 when none is given",
        ),
    ] = Field(default_factory=list)
    sentinel_master: Annotated[
        list[str],
        option(
            "--sentinel-master",
            "REDIS_SENTINEL_MASTER",
            metavar="NAME",
            help="only follow these Sentinel groups",
            default_text="all groups",
        ),
    ] = Field(default_factory=list)
    sentinel_user: Annotated[
        str | None,
        option(
            "--sentinel-user",
            "REDIS_SENTINEL_USER",
            metavar="USER",
            help="ACL username for Sentinels",
        ),
    ] = None
    sentinel_password: Annotated[
        SecretStr | None,
        option(
            "--sentinel-password",
            "REDIS_SENTINEL_PASSWORD",
            metavar="PASSWORD",
            help="password for Sentinels, separate from data nodes' because Sentinels often "
            "have none; as a flag it prints a warning",
        ),
    ] = None
    sentinel_password_file: Annotated[
        PasswordFile | None,
        option(
            "--sentinel-password-file",
            "REDIS_SENTINEL_PASSWORD_FILE",
            metavar="PATH",
            help="file holding that password, read at start-up",
        ),
    ] = None
    tls_ca_cert_file: Annotated[
        Path | None,
        option(
            "--tls-ca-cert-file",
            "REDIS_EXPORTER_TLS_CA_CERT_FILE",
            metavar="PATH",
            help="CA certificates (PEM) that data nodes' TLS certificates are verified against, "
            "instead of the system's",
        ),
    ] = None
    tls_client_cert_file: Annotated[
        Path | None,
        option(
            "--tls-client-cert-file",
            "REDIS_EXPORTER_TLS_CLIENT_CERT_FILE",
            metavar="PATH",
            help="client certificate (PEM) shown to data nodes that require one "
            "(`tls-auth-clients yes`)",
        ),
    ] = None
    tls_client_key_file: Annotated[
        Path | None,
        option(
            "--tls-client-key-file",
            "REDIS_EXPORTER_TLS_CLIENT_KEY_FILE",
            metavar="PATH",
            help="the client certificate's private key (PEM), unless the certificate file holds it",
        ),
    ] = None
    tls_server_name: Annotated[
        str | None,
        option(
            "--tls-server-name",
            "REDIS_EXPORTER_TLS_SERVER_NAME",
            metavar="NAME",
            help="the name sent (SNI) to data nodes and checked in their certificates instead of "
            "the address's host: Sentinels announce IP addresses, certificates name hosts",
        ),
    ] = None
    tls_server_name_for: Annotated[
        list[str],
        option(
            "--tls-server-name-for",
            "REDIS_EXPORTER_TLS_SERVER_NAME_FOR",
            metavar="GROUP=NAME",
            help="the TLS name of the data nodes of one Sentinel group, instead of "
            "--tls-server-name, for groups whose certificates name different hosts",
        ),
    ] = Field(default_factory=list)
    tls_discovered_nodes: Annotated[
        bool,
        option(
            "--tls-discovered-nodes",
            "REDIS_EXPORTER_TLS_DISCOVERED_NODES",
            metavar="BOOL",
            help="reach the data nodes a plain (redis://) Sentinel names over TLS, with the data "
            "nodes' TLS options: plain Sentinels in front of TLS data nodes",
        ),
    ] = False
    skip_tls_verification: Annotated[
        bool,
        option(
            "--skip-tls-verification",
            "REDIS_EXPORTER_SKIP_TLS_VERIFICATION",
            metavar="BOOL",
            help="accept any certificate from data nodes (logged as a warning at start-up)",
        ),
    ] = False
    sentinel_tls_ca_cert_file: Annotated[
        Path | None,
        option(
            "--sentinel-tls-ca-cert-file",
            "REDIS_EXPORTER_SENTINEL_TLS_CA_CERT_FILE",
            metavar="PATH",
            help="CA certificates (PEM) that Sentinels' TLS certificates are verified against, "
            "instead of the system's",
        ),
    ] = None
    sentinel_tls_client_cert_file: Annotated[
        Path | None,
        option(
            "--sentinel-tls-client-cert-file",
            "REDIS_EXPORTER_SENTINEL_TLS_CLIENT_CERT_FILE",
            metavar="PATH",
            help="client certificate (PEM) shown to Sentinels that require one "
            "(`tls-auth-clients yes`)",
        ),
    ] = None
    sentinel_tls_client_key_file: Annotated[
        Path | None,
        option(
            "--sentinel-tls-client-key-file",
            "REDIS_EXPORTER_SENTINEL_TLS_CLIENT_KEY_FILE",
            metavar="PATH",
            help="the client certificate's private key (PEM), unless the certificate file holds it",
        ),
    ] = None
    sentinel_tls_server_name: Annotated[
        str | None,
        option(
            "--sentinel-tls-server-name",
            "REDIS_EXPORTER_SENTINEL_TLS_SERVER_NAME",
            metavar="NAME",
            help="the name sent (SNI) to Sentinels and checked in their certificates instead of "
            "the address's host: Sentinels announce IP addresses, certificates name hosts",
        ),
    ] = None
    sentinel_skip_tls_verification: Annotated[
        bool,
        option(
            "--sentinel-skip-tls-verification",
            "REDIS_EXPORTER_SENTINEL_SKIP_TLS_VERIFICATION",
            metavar="BOOL",
            help="accept any certificate from Sentinels (logged as a warning at start-up)",
        ),
    ] = False
    listen_address: Annotated[
        str,
        option(
            "--listen-address",
            "REDIS_EXPORTER_WEB_LISTEN_ADDRESS",
            "REDIS_EXPORTER_LISTEN_ADDRESS",
            metavar="ADDR",
            aliases=("--web.listen-address",),
            help="HTTP address, `[host]:port`; `:9121` listens on all interfaces",
        ),
    ] = ":9121"
    poll_interval: Annotated[
        float,
        option(
            "--poll-interval",
            "REDIS_EXPORTER_POLL_INTERVAL",
            metavar="SECONDS",
            help="seconds between two polls of a node",
        ),
    ] = Field(default=10.0, gt=0)
    poll_timeout: Annotated[
        float,
        option(
            "--poll-timeout",
            "REDIS_EXPORTER_POLL_TIMEOUT",
            metavar="SECONDS",
            help="deadline of one poll in seconds; must be less than the interval",
        ),
    ] = Field(default=5.0, gt=0)
    max_reply_bytes: Annotated[
        int,
        option(
            "--max-reply-bytes",
            "REDIS_EXPORTER_MAX_REPLY_BYTES",
            metavar="BYTES",
            help="the most one poll's replies may hold; a node that sends more is `redis_up 0` "
            "with that reason (real INFO replies are tens of kB)",
        ),
    ] = Field(default=MAX_REPLY_BYTES, ge=1 << 16)
    set_client_name: Annotated[
        bool,
        option(
            "--set-client-name",
            "REDIS_EXPORTER_SET_CLIENT_NAME",
            metavar="BOOL",
            help="send `CLIENT SETNAME redis-ha-exporter` after connecting; best effort",
        ),
    ] = True
    web_config_file: Annotated[
        Path | None,
        option(
            "--web-config-file",
            "REDIS_EXPORTER_WEB_CONFIG_FILE",
            metavar="PATH",
            help="TLS and basic authentication for the exporter's endpoints, in Prometheus "
            "exporter-toolkit's format (`tls_server_config`, `basic_auth_users`); `/health` "
            "stays open",
            aliases=("--web.config.file",),
        ),
    ] = None
    web_enable_lifecycle: Annotated[
        bool,
        option(
            "--web-enable-lifecycle",
            "REDIS_EXPORTER_WEB_ENABLE_LIFECYCLE",
            metavar="BOOL",
            help="answer `POST /-/reload` by reloading the configuration, as SIGHUP does",
            aliases=("--web.enable-lifecycle",),
        ),
    ] = False
    metrics_min_age: Annotated[
        float,
        option(
            "--metrics-min-age",
            "REDIS_EXPORTER_METRICS_MIN_AGE",
            metavar="SECONDS",
            help="a `/metrics` body is reused for this long before newer polls are rendered "
            "into it; 0 renders on every change",
        ),
    ] = Field(default=1.0, ge=0)
    redis_only_metrics: Annotated[
        bool,
        option(
            "--redis-only-metrics",
            "REDIS_EXPORTER_REDIS_ONLY_METRICS",
            metavar="BOOL",
            help="leave the exporter's own process_*, python_* and "
            "redis_exporter_build_info series out of `/metrics`",
        ),
    ] = False
    scrape_allow: Annotated[
        list[ScrapeAllowConfig],
        option(
            "--scrape-allow",
            "REDIS_EXPORTER_SCRAPE_ALLOW",
            metavar="PATTERN",
            help="`/scrape?target=` may poll a node it does not know when it matches one of "
            "these: a host glob or CIDR with an optional port glob (`10.0.0.0/8:6379`, "
            "`redis-*.svc:*`); no credentials are sent to it unless a YAML entry gives them "
            "(`{pattern, user, password_file}`)",
            default_text="none: unknown targets get 403",
        ),
    ] = Field(default_factory=list)
    discovery_allow: Annotated[
        list[str],
        option(
            "--discovery-allow",
            "REDIS_EXPORTER_DISCOVERY_ALLOW",
            metavar="PATTERN",
            help="a node a Sentinel names is polled (and sent a password) only when it matches "
            "one of these, as for --scrape-allow; `*` allows any",
            default_text="loopback, the private ranges and names (`*.svc`, `*.cluster.local`, "
            "`*.internal`, ...), names of one label, each Sentinel's own /24 (IPv6 /64) and, "
            "for a Sentinel given by name, its domain",
        ),
    ] = Field(default_factory=list)
    max_nodes: Annotated[
        int,
        option(
            "--max-nodes",
            "REDIS_EXPORTER_MAX_NODES",
            metavar="N",
            help="the most nodes polled; nodes discovered beyond it are not polled (a log line "
            "and redis_exporter_discovery_capped_nodes say how many), those polled keep theirs",
        ),
    ] = Field(default=1000, ge=1)
    shard: Annotated[
        int,
        option(
            "--shard",
            "REDIS_EXPORTER_SHARD",
            metavar="I",
            help="this process's shard, 0 to `--total-shards` - 1: it polls the Sentinel "
            "groups and static targets that hash to it (every shard reads the Sentinels)",
        ),
    ] = Field(default=0, ge=0)
    total_shards: Annotated[
        int,
        option(
            "--total-shards",
            "REDIS_EXPORTER_TOTAL_SHARDS",
            metavar="N",
            help="how many shards share the nodes; 1 turns sharding off",
        ),
    ] = Field(default=1, ge=1)
    log_level: Annotated[
        Literal["debug", "info", "warning", "error"],
        option(
            "--log-level",
            "REDIS_EXPORTER_LOG_LEVEL",
            metavar="LEVEL",
            help="`debug`, `info`, `warning` or `error`",
        ),
    ] = "info"
    log_format: Annotated[
        Literal["text", "json"],
        option(
            "--log-format", "REDIS_EXPORTER_LOG_FORMAT", metavar="FORMAT", help="`text` or `json`"
        ),
    ] = "text"
    targets: Annotated[
        list[TargetConfig],
        option(None, help="YAML only: static targets with their own credentials"),
    ] = Field(default_factory=list)

    @field_validator(
        "redis_addr",
        "sentinel_addr",
        "sentinel_master",
        "discovery_allow",
        "tls_server_name_for",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        # redis_exporter's spellings: `txt` and `WARN`.
        if isinstance(value, str):
            value = value.lower()
            return {"txt": "text", "warn": "warning"}.get(value, value)
        return value

    @field_validator("redis_addr", "sentinel_addr")
    @classmethod
    def _addresses(cls, value: list[str], info: ValidationInfo) -> list[str]:
        port = ADDRESS_PORTS[str(info.field_name)]
        return _each_parses(value, lambda item: parse_address(item, port))

    @field_validator("discovery_allow")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _each_parses(value, parse_target_pattern)

    @field_validator("tls_server_name_for")
    @classmethod
    def _group_names(cls, value: list[str]) -> list[str]:
        problems = []
        seen: dict[str, str] = {}
        for item in value:
            group, sep, name = item.partition("=")
            if not (sep and group.strip() and name.strip()):
                problems.append(f"{item!r} is not GROUP=NAME")
            elif seen.setdefault(group.strip(), name.strip()) != name.strip():
                problems.append(f"group {group.strip()!r} is given two names")
        if problems:
            raise ValueError("\n".join(problems))
        return value

    @field_validator("scrape_allow", mode="before")
    @classmethod
    def _scrape_entries(cls, value: Any) -> Any:
        """A pattern given as a string (a flag, the environment, the YAML list) is an entry
        without credentials."""
        value = _split(value)
        if isinstance(value, list):
            return [{"pattern": p} if isinstance(p, str) else p for p in value]
        return value

    @field_validator("total_shards")
    @classmethod
    def _shard_in_range(cls, value: int, info: ValidationInfo) -> int:
        shard = info.data.get("shard")
        if shard is not None and shard >= value:
            raise ValueError(f"must be greater than {_describe(('shard',))} ({shard})")
        return value

    @field_validator("listen_address")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen_address(value)
        return value

    @field_validator("redis_password_file", "sentinel_password_file")
    @classmethod
    def _one_password(cls, value: SecretFile | None, info: ValidationInfo) -> SecretFile | None:
        inline = info.field_name.removesuffix("_file") if info.field_name else ""
        if value is not None and info.data.get(inline) is not None:
            raise ValueError(f"{_describe((inline,))} is set too; use one")
        return value

    @field_validator(
        "tls_ca_cert_file",
        "tls_client_cert_file",
        "tls_client_key_file",
        "sentinel_tls_ca_cert_file",
        "sentinel_tls_client_cert_file",
        "sentinel_tls_client_key_file",
    )
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                with value.open("rb"):
                    pass
            except OSError as exc:
                raise ValueError(f"cannot read {str(value)!r}: {exc.strerror}") from None
        return value

    @field_validator("skip_tls_verification", "sentinel_skip_tls_verification")
    @classmethod
    def _tls_loads(cls, value: bool, info: ValidationInfo) -> bool:
        prefix = str(info.field_name).removesuffix("skip_tls_verification")
        data = info.data
        cert, key = (
            data.get(f"{prefix}tls_client_cert_file"),
            data.get(f"{prefix}tls_client_key_file"),
        )
        if key is not None and cert is None:
            raise ValueError(
                f"{_describe((f'{prefix}tls_client_key_file',))} is set without "
                f"{_describe((f'{prefix}tls_client_cert_file',))}"
            )
        given = [
            f"{prefix}tls_{n}_file"
            for n in ("ca_cert", "client_cert", "client_key")
            if data.get(f"{prefix}tls_{n}_file") is not None
        ]
        if given:
            try:
                _tls_options(data, prefix, value).context()
            except (OSError, ssl.SSLError, ValueError) as exc:
                files = ", ".join(_describe((name,)) for name in given)
                raise ValueError(f"the TLS files cannot be used ({files}): {exc}") from None
        return value

    @field_validator("web_config_file")
    @classmethod
    def _web_config(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                load_web_config(value)
            except WebConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    # Cross-checks are per field (earlier fields are in `info.data`) rather than in a model
    # validator, which pydantic skips as soon as any field fails: every problem gets its line.
    @field_validator("poll_timeout")
    @classmethod
    def _timeout_below_interval(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("poll_interval")
        if interval is not None and value >= interval:
            raise ValueError(
                f"{value:g}s must be less than {_describe(('poll_interval',))} ({interval:g}s)"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _EnvSource(settings_cls), _YamlSource(settings_cls, init_settings))

    # -- resolution: no I/O, every secret was read at load --------------------------------

    def data_targets(self) -> list[Target]:
        """Static data-node targets (flags/env and YAML `targets:`), deduplicated by address."""
        default = self.data_credentials()
        seen: dict[str, Target] = {}
        given = "redis_addr" in self.model_fields_set  # `--redis.addr=`: no /metrics target
        for text in self.redis_addr or (
            [] if self.targets or self.sentinel_addr or given else [DEFAULT_TARGET]
        ):
            addr = parse_address(text)
            creds = self.mapped_credentials(addr) or default
            seen.setdefault(addr.instance, Target(addr, _url_credentials(addr, creds)))
        for entry in self.targets:
            addr = parse_address(entry.addr)
            password = entry.password
            if entry.password_file is not None:
                password = entry.password_file.secret
            creds = Credentials(entry.user or default.username, password or default.password)
            seen[addr.instance] = Target(addr, _url_credentials(addr, creds))
        return list(seen.values())

    def sentinel_targets(self) -> list[Target]:
        default = self.sentinel_credentials()
        seen: dict[str, Target] = {}
        for text in self.sentinel_addr:
            addr = parse_address(text, DEFAULT_SENTINEL_PORT)
            seen.setdefault(addr.instance, Target(addr, _url_credentials(addr, default)))
        return list(seen.values())

    def scrape_rules(self) -> list[ScrapeRule]:
        """--scrape-allow in order, each with the credentials its targets get (none for a
        plain pattern)."""
        return [
            ScrapeRule(parse_target_pattern(p.pattern), p.credentials()) for p in self.scrape_allow
        ]

    def discovery_allows(self) -> Callable[[str, int], bool]:
        """Whether discovery may contact `host:port`: --discovery-allow, or by default the
        private networks and names (PRIVATE_NETWORKS), each Sentinel's neighbourhood, and
        names of one label (`redis-master`, as Docker Compose and /etc/hosts have them)."""
        patterns = self.discovery_patterns()
        short_names = not self.discovery_allow

        def allows(host: str, port: int) -> bool:
            if short_names and "." not in host.rstrip(".") and ip_literal(host) is None:
                return True
            return any(p.matches(host, port) for p in patterns)

        return allows

    def discovery_patterns(self) -> list[TargetPattern]:
        """--discovery-allow, or the default: loopback, the private ranges, and each
        Sentinel's neighbourhood (its /24 or /64, or the domain of its name)."""
        if self.discovery_allow:
            return [parse_target_pattern(p) for p in self.discovery_allow]
        patterns = list(PRIVATE_NETWORKS)
        for target in self.sentinel_targets():
            host = target.address.host
            if not host:
                continue
            ip = ip_literal(host)
            if ip is not None:
                prefix = 24 if ip.version == 4 else 64
                net = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
                patterns.append(f"[{net}]" if ip.version == 6 else str(net))
            elif "." in host:
                patterns += [host.lower(), "*." + host.lower().split(".", 1)[1]]
            else:
                patterns.append(host.lower())
        return [parse_target_pattern(p) for p in dict.fromkeys(patterns)]

    def data_credentials(self) -> Credentials:
        """Credentials for data nodes found through Sentinel."""
        return Credentials(
            self.redis_user, _password(self.redis_password, self.redis_password_file)
        )

    def sentinel_credentials(self) -> Credentials:
        """Credentials for Sentinels found through other Sentinels."""
        return Credentials(
            self.sentinel_user, _password(self.sentinel_password, self.sentinel_password_file)
        )

    def web_config(self) -> WebConfig:
        """The exporter's own TLS and users; none of either without --web-config-file."""
        return load_web_config(self.web_config_file) if self.web_config_file else WebConfig()

    def group_server_names(self) -> dict[str, str]:
        """--tls-server-name-for: Sentinel group -> the TLS name of its data nodes."""
        pairs = (item.partition("=") for item in self.tls_server_name_for)
        return {group.strip(): name.strip() for group, _, name in pairs}

    def data_tls(self) -> TlsOptions:
        return _tls_options(vars(self), "", self.skip_tls_verification)

    def sentinel_tls(self) -> TlsOptions:
        return _tls_options(vars(self), "sentinel_", self.sentinel_skip_tls_verification)

    def mapped_credentials(self, address: RedisAddress) -> Credentials | None:
        """The `--redis.password-file` entry for `address`, as redis_exporter reads it: only
        when no --redis-password (or its file) is given."""
        if self.redis_password_map is None or self.data_credentials().password is not None:
            return None
        return self.redis_password_map.lookup(address, self.redis_user)

    def secrets(self) -> tuple[str, ...]:
        """Every password the exporter holds: the list `address.redact` is given."""
        out: list[str] = []
        if self.redis_password_map is not None:
            out += self.redis_password_map.secrets()
        for creds in (self.data_credentials(), self.sentinel_credentials()):
            if creds.password is not None:
                out.append(creds.password.get_secret_value())
        for target in self.data_targets() + self.sentinel_targets():
            for secret in (target.credentials.password, target.address.password):
                if secret is not None:
                    out.append(secret.get_secret_value())
        for rule in self.scrape_rules():
            if rule.credentials.password is not None:
                out.append(rule.credentials.password.get_secret_value())
        return tuple(s for s in dict.fromkeys(out) if s)

    def masked(self) -> dict[str, Any]:
        """The effective configuration with every secret replaced, for `check-config`."""
        out = self.model_dump(mode="json")
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = MASK
            elif name in ADDRESS_PORTS:
                out[name] = [parse_address(a, ADDRESS_PORTS[name]).redacted() for a in value]
        for entry in out["targets"]:
            entry["addr"] = parse_address(entry["addr"]).redacted()
            entry["password"] = MASK if entry.get("password") else None
        out["scrape_allow"] = [
            entry["pattern"]
            if not any(entry[k] for k in ("user", "password", "password_file"))
            else {k: MASK if k == "password" and v else v for k, v in entry.items()}
            for entry in out["scrape_allow"]
        ]
        for which, creds in (
            ("redis", self.data_credentials()),
            ("sentinel", self.sentinel_credentials()),
        ):
            out[f"effective_{which}_password"] = MASK if creds.password else None
        out["resolved_data_targets"] = [t.address.redacted() for t in self.data_targets()]
        out["resolved_sentinel_targets"] = [t.address.redacted() for t in self.sentinel_targets()]
        return out


def _each_parses(value: list[str], parse: Callable[[str], object]) -> list[str]:
    """`value` unchanged when every item parses; else one problem line per item that does not."""
    problems = []
    for item in value:
        try:
            parse(item)
        except AddressError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("\n".join(problems))
    return value


def _field(setting: Setting[Any]) -> tuple[Any, Any]:
    """A source's declared setting as a pydantic field: its annotation with its Option."""
    declared = option(
        setting.flag,
        *setting.env,
        help=setting.help,
        metavar=setting.metavar,
        default_text=setting.default_text,
    )
    default = setting.default
    if isinstance(default, list):
        spec = Field(default_factory=lambda: list(default), ge=setting.ge, le=setting.le)
    else:
        spec = Field(default=default, ge=setting.ge, le=setting.le)
    return Annotated[setting.type, declared], spec


def _validators() -> dict[str, Any]:
    """The sources' settings' validators: their cross-checks (earlier fields in `info.data`),
    and for lists the comma-separated form environment variables carry."""
    out: dict[str, Any] = {}
    for setting in sources.settings():
        check = setting.check
        if check is not None:

            def run(cls: type, value: Any, info: ValidationInfo, check: Any = check) -> Any:
                return check(value, info.data)

            out[f"_check_{setting.name}"] = field_validator(setting.name)(classmethod(run))
        if get_origin(setting.type) is list:
            out[f"_split_{setting.name}"] = field_validator(setting.name, mode="before")(
                classmethod(lambda cls, value: _split(value))
            )
    return out


if TYPE_CHECKING:
    Settings = _CoreSettings
else:
    # All settings of the exporter, the sources' own after the core ones. Build with
    # `load_settings`.
    Settings = create_model(
        "Settings",
        __base__=_CoreSettings,
        __module__=__name__,
        __validators__=_validators(),
        **{s.name: _field(s) for s in sources.settings()},
    )


def source_values(settings: _CoreSettings) -> dict[str, object]:
    """The sources' settings by name, as a poll's options carry them."""
    return {s.name: getattr(settings, s.name) for s in sources.settings()}


def value_of(settings: _CoreSettings, setting: Setting[T]) -> T:
    """One source setting's value, typed."""
    return cast(T, getattr(settings, setting.name))


def _option_of(info: FieldInfo) -> Option:
    return next(m for m in info.metadata if isinstance(m, Option))


# field name -> its declaration, in the order of the model
OPTIONS: Mapping[str, Option] = {
    name: _option_of(info) for name, info in Settings.model_fields.items()
}


def is_repeatable(name: str) -> bool:
    """A list setting: its flag may be repeated and its environment variable comma-separated."""
    return get_origin(Settings.model_fields[name].annotation) is list


def shown_default(name: str) -> str:
    """The default as documentation shows it: Markdown from `default_text`, else plain."""
    declared = OPTIONS[name].default_text
    if declared is not None:
        return declared
    default = Settings.model_fields[name].get_default(call_default_factory=True)
    if default is None or default == []:
        return ""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def _tls_options(values: Mapping[str, Any], prefix: str, skip: bool) -> TlsOptions:
    def path(name: str) -> str | None:
        value = values.get(f"{prefix}tls_{name}")
        return str(value) if value is not None else None

    server_name = values.get(f"{prefix}tls_server_name")
    return TlsOptions(
        path("ca_cert_file"),
        path("client_cert_file"),
        path("client_key_file"),
        server_name or None,
        not skip,
    )


def _password(inline: SecretStr | None, from_file: SecretFile | None) -> SecretStr | None:
    return from_file.secret if from_file is not None else inline


def _url_credentials(addr: RedisAddress, default: Credentials) -> Credentials:
    """Credentials embedded in the URL win over the defaults for that one target."""
    return Credentials(addr.username or default.username, addr.password or default.password)


def split_listen_address(value: str) -> tuple[str, int]:
    """`:9121`, `0.0.0.0:9121`, `[::1]:9121` -> (host, port); `:port` listens everywhere."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"listen address {value!r} must be [host]:port with port 1-65535")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


class _EnvSource(PydanticBaseSettingsSource):
    """Reads exactly the declared environment variables, nothing else."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, declared in OPTIONS.items():
            for env in declared.env:
                value = os.environ.get(env)
                if value is not None and value != "":
                    out[name] = value
                    break
        return out


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file named by --config-file / REDIS_EXPORTER_CONFIG_FILE, if any."""

    def __init__(self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        given = init().get("config_file")
        for env in OPTIONS["config_file"].env:
            given = given or os.environ.get(env)
        self.path = Path(given) if given else None

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self.path
        if path is None:
            return {}
        where = _describe(("config_file",))
        try:
            data = read_yaml(path)
        except WebConfigError as exc:
            raise ConfigError([f"{where}: {exc}"]) from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError([f"{where}: {str(path)!r} must hold a mapping"])
        return {str(k).replace("-", "_"): v for k, v in data.items()}


def _describe(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "configuration"
    name = str(loc[0])
    if name == "targets":
        rest = ".".join(str(p) for p in loc[1:])
        return f"config file targets[{rest}]" if rest else "config file targets"
    declared = OPTIONS.get(name)
    if declared is None or declared.flag is None:
        return f"config file key {name!r}"
    where = f"{declared.flag} ({', '.join(declared.env)})" if declared.env else declared.flag
    # An entry of a list of mappings (`scrape_allow[1.pattern]`).
    return where + (f" [{'.'.join(str(p) for p in loc[1:])}]" if loc[1:] else "")


def load_settings(flags: Mapping[str, Any]) -> Settings:
    """Build Settings from explicitly given flags, the environment and the YAML file."""
    try:
        return Settings(**dict(flags))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown setting"
            if not err["loc"]:
                problems.extend(msg.splitlines())
            else:
                where = _describe(tuple(err["loc"]))
                problems.extend(f"{where}: {line}" for line in msg.splitlines())
        raise ConfigError(problems) from None
