"""CONFIG GET of the few parameters we export, re-read every `--config-refresh-polls` polls.

redis_config_maxmemory{instance="10.0.0.1:6379"} 6.7108864e+07
redis_config_client_output_buffer_limit_bytes{class="replica",limit="hard",...} 2.68435456e+08
"""

from __future__ import annotations

from collections.abc import Sequence

from redis_ha_exporter.metrics import names as n
from redis_ha_exporter.metrics.model import FamilyBuilder
from redis_ha_exporter.replies import decode, to_number
from redis_ha_exporter.snapshot import ConfigRecord, NodeSnapshot
from redis_ha_exporter.sources.base import DATA, Command, NodeView, Reply, Source

# Never `CONFIG GET *`: it is large and includes secrets (requirepass, masterauth).
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


def parse_config(replies: Sequence[Reply]) -> dict[str, str]:
    out: dict[str, str] = {}
    for reply in replies:
        if isinstance(reply, (list, tuple)):
            items = [decode(v) for v in reply]
            out.update(zip(items[0::2], items[1::2], strict=False))
    return out


def commands(node: NodeView, prev: ConfigRecord | None) -> Sequence[Command]:
    if prev is not None and node.polls % node.options.config_refresh_polls:
        return ()  # the previous values are kept until the next refresh
    if node.version >= (7,):
        return [("CONFIG", "GET", *CONFIG_PARAMS)]
    # Before 7.0 CONFIG GET takes one parameter.
    return [("CONFIG", "GET", param) for param in CONFIG_PARAMS]


def parse(node: NodeView, prev: ConfigRecord | None, replies: Sequence[Reply]) -> ConfigRecord:
    return ConfigRecord(parse_config(replies))


def families(snap: NodeSnapshot, record: ConfigRecord, b: FamilyBuilder) -> None:
    config = record.values
    for key, defn in (
        ("maxmemory", n.CONFIG_MAXMEMORY),
        ("maxclients", n.CONFIG_MAXCLIENTS),
        ("io-threads", n.CONFIG_IO_THREADS),
        ("repl-backlog-size", n.CONFIG_REPL_BACKLOG),
    ):
        value = to_number(config.get(key, ""))
        if value is not None:
            b.add(defn, value)
    if "save" in config:
        # `save "3600 1 300 100"`: pairs of seconds and changes; "" turns RDB snapshots off.
        b.add(n.CONFIG_SAVE_RULES, len(config["save"].split()) // 2)
    words = config.get("client-output-buffer-limit", "").split()
    for i in range(0, len(words) - 3, 4):
        cls, hard, soft, seconds = words[i : i + 4]
        values = [to_number(v) for v in (hard, soft, seconds)]
        if None in values:
            continue
        b.add(n.CONFIG_COBL_BYTES, values[0] or 0.0, **{"class": cls, "limit": "hard"})
        b.add(n.CONFIG_COBL_BYTES, values[1] or 0.0, **{"class": cls, "limit": "soft"})
        b.add(n.CONFIG_COBL_SECONDS, values[2] or 0.0, **{"class": cls, "limit": "soft"})


SOURCE = Source("config", ConfigRecord, DATA, commands, parse, families)
