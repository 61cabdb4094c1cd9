"""One module per command family; `ALL` is the registry a poll runs, INFO first."""

from __future__ import annotations

from typing import Any

from redis_ha_exporter.metrics.model import MetricDef
from redis_ha_exporter.sources import config, info, latency, pubsub, sentinel, slowlog
from redis_ha_exporter.sources.base import Source

ALL: tuple[Source[Any], ...] = (
    info.SOURCE,  # first: every other source parses after it and may read it
    config.SOURCE,
    slowlog.SOURCE,
    latency.SOURCE,
    pubsub.SOURCE,
    sentinel.SOURCE,
)


def metric_defs() -> tuple[MetricDef, ...]:
    """Every family the sources declare (INFO's `cluster_*` fields pass through unlisted)."""
    return tuple(d for source in ALL for d in source.metrics)
