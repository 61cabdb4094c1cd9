"""Configuration: flags > environment > YAML file > defaults, validated once at start-up.

Every problem is reported with the flag and environment variable that set it, and no secret
ever appears in a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from exporter.address import AddressError, RedisAddress, parse_address

DEFAULT_TARGET = "redis://localhost:6379"

# field -> (flag, environment variables in order of preference)
SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "config_file": ("--config-file", ("REDIS_EXPORTER_CONFIG_FILE",)),
    "redis_addr": ("--redis-addr", ("REDIS_ADDR", "REDIS_URL")),
    "redis_user": ("--redis-user", ("REDIS_USER",)),
    "redis_password": ("--redis-password", ("REDIS_PASSWORD",)),
    "redis_password_file": ("--redis-password-file", ("REDIS_PASSWORD_FILE",)),
    "sentinel_addr": ("--sentinel-addr", ("REDIS_SENTINEL_ADDR",)),
    "sentinel_master": ("--sentinel-master", ("REDIS_SENTINEL_MASTER",)),
    "sentinel_user": ("--sentinel-user", ("REDIS_SENTINEL_USER",)),
    "sentinel_password": ("--sentinel-password", ("REDIS_SENTINEL_PASSWORD",)),
    "sentinel_password_file": ("--sentinel-password-file", ("REDIS_SENTINEL_PASSWORD_FILE",)),
    "listen_address": (
        "--listen-address",
        ("REDIS_EXPORTER_WEB_LISTEN_ADDRESS", "REDIS_EXPORTER_LISTEN_ADDRESS"),
    ),
    "poll_interval": ("--poll-interval", ("REDIS_EXPORTER_POLL_INTERVAL",)),
    "poll_timeout": ("--poll-timeout", ("REDIS_EXPORTER_POLL_TIMEOUT",)),
    "config_refresh_polls": ("--config-refresh-polls", ("REDIS_EXPORTER_CONFIG_REFRESH_POLLS",)),
    "slowlog_fetch": ("--slowlog-fetch", ("REDIS_EXPORTER_SLOWLOG_FETCH",)),
    "log_level": ("--log-level", ("REDIS_EXPORTER_LOG_LEVEL",)),
    "log_format": ("--log-format", ("REDIS_EXPORTER_LOG_FORMAT",)),
    "targets": ("targets", ()),
}


class ConfigError(Exception):
    """Invalid configuration: `problems` holds one printable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _split(value: Any) -> Any:
    """Environment variables carry lists as comma-separated strings."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
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


class TargetConfig(BaseModel):
    """One statically configured node with its own credentials (YAML `targets:` only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    addr: str
    user: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None

    @field_validator("addr")
    @classmethod
    def _addr(cls, value: str) -> str:
        parse_address(value)
        return value

    @field_validator("password_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            _read_secret(value)
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


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved node address with the credentials to use for it."""

    address: RedisAddress
    credentials: Credentials


class Settings(BaseSettings):
    """All settings of the exporter. Build with `load_settings`."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    config_file: Path | None = None
    redis_addr: list[str] = Field(default_factory=list)
    redis_user: str | None = None
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None
    sentinel_addr: list[str] = Field(default_factory=list)
    sentinel_master: list[str] = Field(default_factory=list)
    sentinel_user: str | None = None
    sentinel_password: SecretStr | None = None
    sentinel_password_file: Path | None = None
    listen_address: str = ":9121"
    poll_interval: float = Field(default=10.0, gt=0)
    poll_timeout: float = Field(default=5.0, gt=0)
    config_refresh_polls: int = Field(default=6, ge=1)
    slowlog_fetch: int = Field(default=128, ge=1, le=10_000)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    targets: list[TargetConfig] = Field(default_factory=list)

    @field_validator("redis_addr", "sentinel_addr", "sentinel_master", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("redis_addr", "sentinel_addr")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        problems = []
        for item in value:
            try:
                parse_address(item)
            except AddressError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("\n".join(problems))
        return value

    @field_validator("listen_address")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen_address(value)
        return value

    @field_validator("redis_password_file", "sentinel_password_file")
    @classmethod
    def _readable(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        inline = info.field_name.removesuffix("_file") if info.field_name else ""
        if value is not None and info.data.get(inline) is not None:
            raise ValueError(f"{_describe((inline,))} is set too; use one")
        if value is not None:
            _read_secret(value)
        return value

    # Checked per field (earlier fields are in `info.data`) rather than in a model validator,
    # which pydantic skips as soon as any field fails: every problem gets its own line.
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

    # -- resolution -------------------------------------------------------------------

    def data_targets(self) -> list[Target]:
        """Static data-node targets (flags/env and YAML `targets:`), deduplicated by address."""
        default = Credentials(self.redis_user, self._password("redis"))
        seen: dict[str, Target] = {}
        for text in self.redis_addr or (
            [] if self.targets or self.sentinel_addr else [DEFAULT_TARGET]
        ):
            addr = parse_address(text)
            seen.setdefault(addr.instance, Target(addr, _url_credentials(addr, default)))
        for entry in self.targets:
            addr = parse_address(entry.addr)
            password = entry.password
            if entry.password_file is not None:
                password = _read_secret(entry.password_file)
            creds = Credentials(entry.user or default.username, password or default.password)
            seen[addr.instance] = Target(addr, _url_credentials(addr, creds))
        return list(seen.values())

    def sentinel_targets(self) -> list[Target]:
        default = Credentials(self.sentinel_user, self._password("sentinel"))
        seen: dict[str, Target] = {}
        for text in self.sentinel_addr:
            addr = parse_address(text)
            seen.setdefault(addr.instance, Target(addr, _url_credentials(addr, default)))
        return list(seen.values())

    def data_credentials(self) -> Credentials:
        """Credentials for data nodes found through Sentinel."""
        return Credentials(self.redis_user, self._password("redis"))

    def sentinel_credentials(self) -> Credentials:
        """Credentials for Sentinels found through other Sentinels."""
        return Credentials(self.sentinel_user, self._password("sentinel"))

    def _password(self, which: Literal["redis", "sentinel"]) -> SecretStr | None:
        path = self.redis_password_file if which == "redis" else self.sentinel_password_file
        if path is not None:
            return _read_secret(path)
        return self.redis_password if which == "redis" else self.sentinel_password

    def masked(self) -> dict[str, Any]:
        """The effective configuration with every secret replaced, for `check-config`."""
        out = self.model_dump(mode="json")
        for key in ("redis_password", "sentinel_password"):
            out[key] = "********" if out.get(key) else None
        out["redis_addr"] = [parse_address(a).redacted() for a in self.redis_addr]
        out["sentinel_addr"] = [parse_address(a).redacted() for a in self.sentinel_addr]
        for entry in out["targets"]:
            entry["addr"] = parse_address(entry["addr"]).redacted()
            entry["password"] = "********" if entry.get("password") else None
        for which, creds in (
            ("redis", self.data_credentials()),
            ("sentinel", self.sentinel_credentials()),
        ):
            out[f"effective_{which}_password"] = "********" if creds.password else None
        out["resolved_data_targets"] = [t.address.redacted() for t in self.data_targets()]
        out["resolved_sentinel_targets"] = [t.address.redacted() for t in self.sentinel_targets()]
        return out


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
    """Reads exactly the documented environment variables, nothing else."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (_flag, envs) in SOURCES.items():
            for env in envs:
                value = os.environ.get(env)
                if value is not None and value != "":
                    out[name] = value
                    break
        return out


class _YamlSource(PydanticBaseSettingsSource):
    """The YAML file named by --config-file / REDIS_EXPORTER_CONFIG_FILE, if any."""

    def __init__(self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        given = init().get("config_file") or os.environ.get("REDIS_EXPORTER_CONFIG_FILE")
        self.path = Path(given) if given else None

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self.path
        if path is None:
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                [
                    f"--config-file (REDIS_EXPORTER_CONFIG_FILE): cannot read {str(path)!r}: "
                    f"{exc.strerror}"
                ]
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(
                [
                    f"--config-file (REDIS_EXPORTER_CONFIG_FILE): {str(path)!r} is not valid "
                    f"YAML{where}"
                ]
            ) from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(
                [f"--config-file (REDIS_EXPORTER_CONFIG_FILE): {str(path)!r} must hold a mapping"]
            )
        return {str(k).replace("-", "_"): v for k, v in data.items()}


def _describe(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "configuration"
    name = str(loc[0])
    if name in SOURCES:
        flag, envs = SOURCES[name]
        if name == "targets":
            rest = ".".join(str(p) for p in loc[1:])
            return f"config file targets[{rest}]" if rest else "config file targets"
        return f"{flag} ({', '.join(envs)})" if envs else flag
    return f"config file key {name!r}"


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
