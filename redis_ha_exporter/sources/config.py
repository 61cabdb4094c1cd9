"""CONFIG GET of the few parameters we export, re-read every `--config-refresh-polls` polls.

redis_config_maxmemory{instance="10.0.0.1:6379"} 6.7108864e+07
redis_config_client_output_buffer_limit_bytes{class="replica",limit="hard",...} 2.68435456e+08
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis_ha_exporter.metrics.model import FamilyBuilder, MetricDef, declared, metric
from redis_ha_exporter.replies import decode, to_number
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Command, NodeView, Reply, Setting, Source

# By default never `CONFIG GET *`: it is large and includes secrets (requirepass,
# masterauth); --include-config-metrics asks for it and drops the secrets on reading.
CONFIG_PARAMS = (
    "maxmemory",
    "maxmemory-policy",
    "maxclients",
    "databases",
    "save",
    "appendonly",
    "slowlog-max-len",
    "slowlog-log-slower-than",
    "io-threads",
    "repl-backlog-size",
    "client-output-buffer-limit",
)
# Valkey 8.1+: the COMMANDLOG thresholds and lengths (slowlog-* are aliases of the first two).
COMMANDLOG_PARAMS = (
    "commandlog-execution-slower-than",
    "commandlog-slow-execution-max-len",
    "commandlog-request-larger-than",
    "commandlog-large-request-max-len",
    "commandlog-reply-larger-than",
    "commandlog-large-reply-max-len",
)
REFRESH_POLLS = Setting(
    "config_refresh_polls",
    int,
    6,
    "--config-refresh-polls",
    ("REDIS_EXPORTER_CONFIG_REFRESH_POLLS",),
    "read `CONFIG GET` every N polls",
    metavar="N",
    ge=1,
)


def _command_name(value: str, earlier: Mapping[str, Any]) -> str:
    if value != "-" and not _COMMAND_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a command name: letters, digits, `_` and `-`, or `-` alone "
            "to send no CONFIG"
        )
    return value


_COMMAND_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")
COMMAND = Setting(
    "config_command",
    str,
    "CONFIG",
    "--config-command",
    ("REDIS_EXPORTER_CONFIG_COMMAND",),
    "the name CONFIG has on the nodes (`rename-command CONFIG ...`); `-` sends no CONFIG, "
    "and the redis_config_* series and the databases' zero-fill beyond 16 are lost",
    metavar="NAME",
    check=_command_name,
)

ALL_CONFIG = Setting(
    "include_config_metrics",
    bool,
    False,
    "--include-config-metrics",
    ("REDIS_EXPORTER_INCL_CONFIG_METRICS",),
    "read `CONFIG GET *` instead of the few parameters, and export every setting as "
    "`redis_config_key_value{key,value}` (and the numeric ones as `redis_config_value{key}`), "
    "and on Sentinels `SENTINEL CONFIG GET *` as `redis_sentinel_config_*`; settings that can "
    "hold a secret are dropped when read, never exported",
    metavar="BOOL",
)
# Settings that hold a password or a key's passphrase (Valkey's primaryauth is masterauth).
SECRET_PARAMS = frozenset(
    {"masterauth", "primaryauth", "requirepass", "tls-key-file-pass", "tls-client-key-file-pass"}
)


def is_secret(param: str) -> bool:
    """A known secret, or a name that looks like one (a future or module `*-pass`)."""
    return param in SECRET_PARAMS or "pass" in param or param.endswith("auth")


def secretless(values: Mapping[str, str]) -> dict[str, str]:
    """`values` less every setting that can hold a secret: applied as a reply is read, so a
    secret never reaches a snapshot."""
    return {k: v for k, v in values.items() if not is_secret(k)}


def add_key_values(
    b: FamilyBuilder, values: Mapping[str, str], key_value: MetricDef, numeric: MetricDef
) -> None:
    """Every setting as `key_value{key,value} 1`, and the numeric ones as `numeric{key}`."""
    for key in sorted(values):
        b.add(key_value, 1, key=key, value=values[key])
        number = to_number(values[key])
        if number is not None:
            b.add(numeric, number, key=key)


CONFIG_KEY_VALUE = metric(
    "config_key_value",
    "gauge",
    "A CONFIG setting and its value, always 1 (--include-config-metrics).",
)
CONFIG_VALUE = metric(
    "config_value",
    "gauge",
    "A numeric CONFIG setting's value (--include-config-metrics).",
)
CONFIG_MAXMEMORY = metric("config_maxmemory", "gauge", "CONFIG maxmemory in bytes.")
CONFIG_MAXCLIENTS = metric("config_maxclients", "gauge", "CONFIG maxclients.")
CONFIG_IO_THREADS = metric("config_io_threads", "gauge", "CONFIG io-threads.")
CONFIG_REPL_BACKLOG = metric(
    "config_repl_backlog_size", "gauge", "CONFIG repl-backlog-size in bytes."
)
COMMANDLOG_CONFIG = {
    param: metric(param.replace("-", "_"), "gauge", f"CONFIG {param} (Valkey 8.1+).")
    for param in COMMANDLOG_PARAMS
}
CONFIG_SAVE_RULES = metric(
    "config_save_rules",
    "gauge",
    "Number of RDB snapshot rules in CONFIG save; 0 when RDB snapshots are off.",
)
CONFIG_COBL_BYTES = metric(
    "config_client_output_buffer_limit_bytes",
    "gauge",
    "CONFIG client-output-buffer-limit in bytes.",
)
CONFIG_COBL_SECONDS = metric(
    "config_client_output_buffer_limit_overcome_seconds",
    "gauge",
    "CONFIG client-output-buffer-limit soft limit duration in seconds.",
)


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """The few CONFIG parameters we read (never `CONFIG GET *`, which holds secrets)."""

    values: Mapping[str, str]
    everything: bool = False  # read with CONFIG GET * (--include-config-metrics)


def parse_config(replies: Sequence[Reply]) -> dict[str, str]:
    out: dict[str, str] = {}
    for reply in replies:
        if isinstance(reply, (list, tuple)):
            items = [decode(v) for v in reply]
            out.update(zip(items[0::2], items[1::2], strict=False))
    return out


def commands(node: NodeView, prev: ConfigRecord | None) -> Sequence[Command]:
    name = COMMAND.of(node.options)
    if name == "-" or (prev is not None and node.polls % REFRESH_POLLS.of(node.options)):
        return ()  # the previous values are kept until the next refresh
    if ALL_CONFIG.of(node.options):
        return [(name, "GET", "*")]
    if node.valkey >= (8, 1):
        return [(name, "GET", *CONFIG_PARAMS, *COMMANDLOG_PARAMS)]
    if node.version >= (7,):
        return [(name, "GET", *CONFIG_PARAMS)]
    # Before 7.0 CONFIG GET takes one parameter.
    return [(name, "GET", param) for param in CONFIG_PARAMS]


def parse(node: NodeView, prev: ConfigRecord | None, replies: Sequence[Reply]) -> ConfigRecord:
    values = parse_config(replies)
    if not ALL_CONFIG.of(node.options):
        return ConfigRecord(values)
    return ConfigRecord(secretless(values), everything=True)


def families(snap: NodeSnapshot, record: ConfigRecord, b: FamilyBuilder) -> None:
    config = record.values
    if record.everything:
        add_key_values(b, config, CONFIG_KEY_VALUE, CONFIG_VALUE)
    for key, defn in (
        ("maxmemory", CONFIG_MAXMEMORY),
        ("maxclients", CONFIG_MAXCLIENTS),
        ("io-threads", CONFIG_IO_THREADS),
        ("repl-backlog-size", CONFIG_REPL_BACKLOG),
    ):
        value = to_number(config.get(key, ""))
        if value is not None:
            b.add(defn, value)
    for key, defn in COMMANDLOG_CONFIG.items():
        value = to_number(config.get(key, ""))
        if value is not None:
            b.add(defn, value)
    if "save" in config:
        # `save "3600 1 300 100"`: pairs of seconds and changes; "" turns RDB snapshots off.
        b.add(CONFIG_SAVE_RULES, len(config["save"].split()) // 2)
    words = config.get("client-output-buffer-limit", "").split()
    for i in range(0, len(words) - 3, 4):
        cls, hard, soft, seconds = words[i : i + 4]
        values = [to_number(v) for v in (hard, soft, seconds)]
        if None in values:
            continue
        b.add(CONFIG_COBL_BYTES, values[0] or 0.0, **{"class": cls, "limit": "hard"})
        b.add(CONFIG_COBL_BYTES, values[1] or 0.0, **{"class": cls, "limit": "soft"})
        b.add(CONFIG_COBL_SECONDS, values[2] or 0.0, **{"class": cls, "limit": "soft"})


SOURCE = Source(
    "config",
    ConfigRecord,
    DATA,
    commands,
    parse,
    families,
    metrics=declared(globals()),
    settings=(REFRESH_POLLS, COMMAND, ALL_CONFIG),
    acl=("+config|get",),
)
