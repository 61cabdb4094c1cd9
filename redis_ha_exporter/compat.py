"""redis_exporter's flags and environment variables that have no setting of ours: what each one
does here, said once at start. Those with a setting of ours are its aliases, in config.py.

A setting that is only a difference in output gets a warning and the exporter runs on; one
where running on would mislead (HTTPS or basic auth asked for and not given, another metric
prefix, another metrics path) is a configuration error. Go's `flag` takes `-name` and `--name`,
with `=` or a space; `go_style()` turns the first into the second.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from redis_ha_exporter.config import Credentials, Settings

_TRUE = {"1", "t", "true", "yes", "on"}  # Go's strconv.ParseBool, and what people write
_BOOLEAN_WORDS = _TRUE | {"0", "f", "false", "no", "off"}


def _true(value: str) -> bool:
    return value.strip().lower() in _TRUE


@dataclass(frozen=True, slots=True)
class Foreign:
    """One redis_exporter setting without a setting of ours.

    `instead` says what the exporter does; `refuse` (given the value) makes it an error;
    `ignore` (given the value) says nothing, for values that mean what we do anyway."""

    flag: str
    env: str
    instead: str
    boolean: bool = False
    refuse: Callable[[str], bool] | None = None
    ignore: Callable[[str], bool] | None = None

    def problem(self, value: str) -> tuple[bool, str] | None:
        """(is an error, the line) for a value given, or None when there is nothing to say."""
        if self.ignore is not None and self.ignore(value):
            return None
        if self.boolean and not _true(value):
            return None
        fatal = self.refuse is not None and self.refuse(value)
        return fatal, f"{self.flag} ({self.env}) is redis_exporter's: {self.instead}"


def _e(name: str) -> str:
    return "REDIS_EXPORTER_" + name


_COUNT_KEYS = (
    "not supported: it would SCAN every key on each poll with no bound; --check-keys counts "
    "a pattern's keys within a time budget and a key cap, --key-groups estimates from a sample"
)
_KEY_GROUPS = (
    "not supported: its Lua regular expressions run with EVAL, and no script is run here; "
    "--key-groups takes glob patterns and estimates each group's keys and memory from a sample"
)
_WEB_TLS = (
    "HTTPS for the exporter's endpoints comes from --web-config-file, in exporter-toolkit's "
    "format: `tls_server_config: {cert_file: ..., key_file: ..., client_ca_file: ..., "
    "client_auth_type: RequireAndVerifyClientCert, min_version: TLS12}`"
)
_BASIC_AUTH = (
    "basic auth for the exporter's endpoints comes from --web-config-file: "
    "`basic_auth_users: {name: <bcrypt hash>}`"
)

FOREIGN: tuple[Foreign, ...] = (
    Foreign(
        "--namespace",
        _e("NAMESPACE"),
        "metric names always start with redis_ (the dashboards and alerts expect it)",
        refuse=lambda v: v.strip() != "redis",
        ignore=lambda v: v.strip() == "redis",
    ),
    Foreign(
        "--web.telemetry-path",
        _e("WEB_TELEMETRY_PATH"),
        "metrics are served at /metrics only; point the scrape config there",
        refuse=lambda v: v.strip().rstrip("/") != "/metrics",
        ignore=lambda v: v.strip().rstrip("/") == "/metrics",
    ),
    Foreign("--tls-server-cert-file", _e("TLS_SERVER_CERT_FILE"), _WEB_TLS, refuse=bool),
    Foreign("--tls-server-key-file", _e("TLS_SERVER_KEY_FILE"), _WEB_TLS, refuse=bool),
    Foreign("--tls-server-ca-cert-file", _e("TLS_SERVER_CA_CERT_FILE"), _WEB_TLS, refuse=bool),
    Foreign(
        "--tls-server-min-version",
        _e("TLS_SERVER_MIN_VERSION"),
        _WEB_TLS,
        ignore=lambda v: v.strip().upper() in ("TLS1.2", "TLS12"),
    ),
    Foreign("--basic-auth-username", _e("BASIC_AUTH_USERNAME"), _BASIC_AUTH, refuse=bool),
    Foreign("--basic-auth-password", _e("BASIC_AUTH_PASSWORD"), _BASIC_AUTH, refuse=bool),
    Foreign("--basic-auth-hash-password", _e("BASIC_AUTH_HASH_PASSWORD"), _BASIC_AUTH, refuse=bool),
    Foreign(
        "--connection-timeout",
        _e("CONNECTION_TIMEOUT"),
        "ignored: a poll's connect and replies share --poll-timeout (default 5s)",
    ),
    Foreign(
        "--ping-on-connect",
        _e("PING_ON_CONNECT"),
        "ignored: every new connection sends PING anyway",
        boolean=True,
    ),
    Foreign(
        "--include-go-runtime-metrics",
        _e("INCLUDE_GO_RUNTIME_METRICS"),
        "ignored: there is no Go runtime; python_* series are exported",
        boolean=True,
    ),
    Foreign(
        "--include-system-metrics",
        _e("INCL_SYSTEM_METRICS"),
        "redis_total_system_memory_bytes is always exported",
        boolean=True,
    ),
    Foreign(
        "--redact-config-metrics",
        _e("REDACT_CONFIG_METRICS"),
        "ignored: a setting that can hold a secret is never exported, even with "
        "--include-config-metrics",
        ignore=_true,
    ),
    Foreign("--count-keys", _e("COUNT_KEYS"), _COUNT_KEYS),
    Foreign("--check-key-groups", _e("CHECK_KEY_GROUPS"), _KEY_GROUPS),
    Foreign(
        "--max-distinct-key-groups",
        _e("MAX_DISTINCT_KEY_GROUPS"),
        _KEY_GROUPS,
        ignore=lambda v: v.strip() == "100",
    ),
    Foreign(
        "--disable-exporting-key-values",
        _e("DISABLE_EXPORTING_KEY_VALUES"),
        "ignored: no key value is exported",
        boolean=True,
    ),
    Foreign("--script", _e("SCRIPT"), "not supported: Lua scripts are never run"),
    Foreign(
        "--lua-script-read-only",
        _e("LUA_SCRIPT_READ_ONLY"),
        "not supported: Lua scripts are never run",
        boolean=True,
    ),
    Foreign(
        "--export-client-list",
        _e("EXPORT_CLIENT_LIST"),
        "not supported: CLIENT LIST is never read (its cost grows with the clients); "
        "redis_connected_clients and the blocked/tracking counts come from INFO",
        boolean=True,
    ),
    Foreign(
        "--export-client-port",
        _e("EXPORT_CLIENT_PORT"),
        "not supported: CLIENT LIST is never read",
        boolean=True,
    ),
    Foreign(
        "--is-cluster",
        _e("IS_CLUSTER"),
        "not supported: Redis Cluster nodes are polled one by one as --redis-addr targets; "
        "cluster_* INFO fields are exported",
        boolean=True,
    ),
    Foreign(
        "--cluster-discover-hostnames",
        _e("CLUSTER_DISCOVER_HOSTNAMES"),
        "not supported: there is no cluster discovery",
        boolean=True,
    ),
    Foreign("--is-tile38", _e("IS_TILE38"), "not supported: no Tile38 series", boolean=True),
    Foreign(
        "--include-modules-metrics",
        _e("INCL_MODULES_METRICS"),
        "not supported: no module series",
        boolean=True,
    ),
    Foreign(
        "--include-search-indexes-metrics",
        _e("INCL_SEARCH_INDEXES_METRICS"),
        "not supported: no search index series",
        boolean=True,
    ),
    Foreign(
        "--check-search-indexes",
        _e("CHECK_SEARCH_INDEXES"),
        "not supported: no search index series",
        ignore=lambda v: v.strip() == ".*",
    ),
    Foreign(
        "--include-rdb-file-size-metric",
        _e("INCL_RDB_FILE_SIZE_METRIC"),
        "not supported: the RDB file is on the server's disk, not ours",
        boolean=True,
    ),
    Foreign(
        "--append-instance-role-label",
        _e("APPEND_INSTANCE_ROLE_LABEL"),
        "not supported: a role label gives every series a new identity at each failover "
        "(counters restart, alerts' `for:` start over); join on redis_instance_info{role} "
        "instead",
        boolean=True,
    ),
    Foreign(
        "--disable-scrape-endpoint",
        _e("DISABLE_SCRAPE_ENDPOINT"),
        "ignored: /scrape answers only for polled nodes and --scrape-allow patterns "
        "(none by default)",
        boolean=True,
    ),
)

BY_FLAG = {f.flag: f for f in FOREIGN}

# redis_exporter's flags that are a setting of ours (config.py declares them as its aliases or
# under the same name) with redis_exporter's environment variable, which that setting reads.
MAPPED: tuple[tuple[str, str], ...] = (
    ("--redis.addr", "REDIS_ADDR"),
    ("--redis.user", "REDIS_USER"),
    ("--redis.password", "REDIS_PASSWORD"),
    ("--redis.password-file", "REDIS_PASSWORD_FILE"),
    ("--web.listen-address", _e("WEB_LISTEN_ADDRESS")),
    ("--log-level", _e("LOG_LEVEL")),
    ("--log-format", _e("LOG_FORMAT")),
    ("--set-client-name", _e("SET_CLIENT_NAME")),
    ("--tls-ca-cert-file", _e("TLS_CA_CERT_FILE")),
    ("--tls-client-cert-file", _e("TLS_CLIENT_CERT_FILE")),
    ("--tls-client-key-file", _e("TLS_CLIENT_KEY_FILE")),
    ("--tls-server-name", _e("TLS_SERVER_NAME")),
    ("--skip-tls-verification", _e("SKIP_TLS_VERIFICATION")),
    ("--exclude-latency-histogram-metrics", _e("EXCLUDE_LATENCY_HISTOGRAM_METRICS")),
    ("--include-metrics-for-empty-databases", _e("INCL_METRICS_FOR_EMPTY_DATABASES")),
    ("--config-command", _e("CONFIG_COMMAND")),
    ("--include-sentinel-peer-info", _e("INCL_SENTINEL_PEER_INFO")),
    ("--redis-only-metrics", _e("REDIS_ONLY_METRICS")),
    ("--include-config-metrics", _e("INCL_CONFIG_METRICS")),
    ("--check-keys", _e("CHECK_KEYS")),
    ("--check-single-keys", _e("CHECK_SINGLE_KEYS")),
    ("--check-keys-batch-size", _e("CHECK_KEYS_BATCH_SIZE")),
    ("--skip-checkkeys-for-role-master", _e("SKIP_CHECKKEYS_FOR_ROLE_MASTER")),
    ("--check-streams", _e("CHECK_STREAMS")),
    ("--check-single-streams", _e("CHECK_SINGLE_STREAMS")),
    ("--streams-exclude-consumer-metrics", _e("STREAMS_EXCLUDE_CONSUMER_METRICS")),
)
# `--debug` (REDIS_EXPORTER_DEBUG) is `--log-level debug` when no level is given (cli.py).
DEBUG = ("--debug", _e("DEBUG"))


def verdict(foreign: Foreign) -> str:
    """What happens when the setting is given, for the README's table."""
    if foreign.refuse is bool:
        return "refused (exit 2)"
    if foreign.refuse is not None:
        return "refused (exit 2) unless redis_exporter's default"
    if foreign.boolean:
        return "warned when true"
    if foreign.ignore is not None:
        return "warned unless redis_exporter's default"
    return "warned"


def go_style(argv: Sequence[str], booleans: Collection[str] = ()) -> list[str]:
    """`-name[=value]`, Go's single-dash long flag, as `--name[=value]`. A boolean flag takes
    the next argument only when it is a boolean word (`--skip-tls-verification true`), and is
    otherwise `--name=true`, so it never swallows the command or the next flag's value."""
    out = []
    pending = list(reversed(argv))
    while pending:
        arg = pending.pop()
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and arg[1].isalpha():
            arg = "-" + arg
        if arg in booleans:
            takes_next = pending and pending[-1].strip().lower() in _BOOLEAN_WORDS
            arg += "=" + (pending.pop() if takes_next else "true")
        out.append(arg)
    return out


def foreign_problems(
    flags: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the foreign settings given: `flags` by flag, then the
    environment (a flag wins, as in redis_exporter)."""
    env = os.environ if environ is None else environ
    errors: list[str] = []
    warnings: list[str] = []
    for foreign in FOREIGN:
        value = flags.get(foreign.flag)
        if value is None:
            value = env.get(foreign.env)
        if value is None:
            continue
        found = foreign.problem(value)
        if found is not None:
            (errors if found[0] else warnings).append(found[1])
    return errors, warnings


PREFIXES = ("REDIS_EXPORTER_", "REDIS_HA_")


def unknown_variables(known: Iterable[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each REDIS_EXPORTER_* or REDIS_HA_* variable nobody reads, with the
    closest known name."""
    env = os.environ if environ is None else environ
    names = sorted({*known, *(f.env for f in FOREIGN)})
    out = []
    for name in sorted(env):
        if not name.startswith(PREFIXES) or name in names:
            continue
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        out.append(f"environment variable {name} is not a setting and is ignored{hint}")
    return out


def setting_warnings(settings: Settings) -> list[str]:
    """What a redis_exporter multi-target setup does differently here, said at start."""
    if not (settings.data_targets() or settings.sentinel_addr or settings.scrape_allow):
        return [
            "no node to poll and no --scrape-allow: redis_exporter's multi-target mode "
            "(`--redis.addr=`) needs --scrape-allow patterns for /scrape to poll anything"
        ]
    plain = [r for r in settings.scrape_rules() if r.credentials == Credentials()]
    if plain and settings.data_credentials().password is not None:
        return [
            "REDIS_PASSWORD is not sent to /scrape targets that a plain --scrape-allow pattern "
            "admits (redis_exporter sends it to any target): give the pattern its credentials "
            "in the YAML file ({pattern, user, password_file}), or list the targets in a "
            "--redis.password-file map instead of giving --redis-password"
        ]
    return []
