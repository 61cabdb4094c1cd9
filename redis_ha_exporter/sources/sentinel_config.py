"""SENTINEL CONFIG GET * with `--include-config-metrics`: a Sentinel's own settings, as
redis_exporter 1.80+ exports them, less `sentinel-pass`, which is dropped on reading.

redis_sentinel_config_key_value{key="resolve-hostnames",value="no",instance="10.0.0.5:26379"} 1
redis_sentinel_config_value{key="announce-port",instance="10.0.0.5:26379"} 0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redis_ha_exporter.metrics.model import FamilyBuilder, declared, metric
from redis_ha_exporter.snapshot import NodeSnapshot
from redis_ha_exporter.sources.base import SENTINEL, Command, NodeView, Reply, Source
from redis_ha_exporter.sources.config import ALL_CONFIG, add_key_values, parse_config, secretless

KEY_VALUE = metric(
    "sentinel_config_key_value",
    "gauge",
    "A Sentinel setting and its value, always 1 (--include-config-metrics).",
)
VALUE = metric(
    "sentinel_config_value",
    "gauge",
    "A numeric Sentinel setting's value (--include-config-metrics).",
)


@dataclass(frozen=True, slots=True)
class SentinelConfigRecord:
    """The Sentinel's settings, secrets already dropped."""

    values: Mapping[str, str]


def commands(node: NodeView, prev: SentinelConfigRecord | None) -> Sequence[Command]:
    # SENTINEL CONFIG GET arrived in 6.2; its `*` is the only way to ask for all.
    if not ALL_CONFIG.of(node.options) or node.version < (6, 2):
        return ()
    return [("SENTINEL", "CONFIG", "GET", "*")]


def parse(
    node: NodeView, prev: SentinelConfigRecord | None, replies: Sequence[Reply]
) -> SentinelConfigRecord:
    return SentinelConfigRecord(secretless(parse_config(replies[:1])))


def families(snap: NodeSnapshot, record: SentinelConfigRecord, b: FamilyBuilder) -> None:
    add_key_values(b, record.values, KEY_VALUE, VALUE)


SOURCE = Source(
    "sentinel config",
    SentinelConfigRecord,
    SENTINEL,
    commands,
    parse,
    families,
    metrics=declared(globals()),
    # Not in the least-privilege line: `+sentinel|config` would allow SENTINEL CONFIG SET too,
    # and the source runs only with --include-config-metrics (README, ACL section).
    acl=(),
)
