"""One module per command family; `ALL` is the registry a poll runs, INFO first."""

from __future__ import annotations

from typing import Any

from redis_ha_exporter.metrics.model import MetricDef
from redis_ha_exporter.sources import (
    celery,
    celery_results,
    commandlog,
    config,
    info,
    key_groups,
    keys,
    latency,
    latency_histogram,
    pubsub,
    sentinel,
    sentinel_config,
    slowlog,
    streams,
    walks,
)
from redis_ha_exporter.sources.base import Setting, Source

ALL: tuple[Source[Any], ...] = (
    info.SOURCE,  # first: every other source parses after it and may read it
    config.SOURCE,
    slowlog.SOURCE,
    commandlog.SOURCE,
    latency.SOURCE,
    latency_histogram.SOURCE,
    pubsub.SOURCE,
    sentinel.SOURCE,
    sentinel_config.SOURCE,
    keys.SOURCE,
    streams.SOURCE,
    celery.SOURCE,
    celery_results.SOURCE,
    key_groups.SOURCE,
    walks.SOURCE,
)


def metric_defs() -> tuple[MetricDef, ...]:
    """Every family the sources declare (INFO's `cluster_*` fields pass through unlisted)."""
    return tuple(d for source in ALL for d in source.metrics)


def settings() -> tuple[Setting[Any], ...]:
    """Every setting the sources declare, in the registry's order."""
    return tuple(s for source in ALL for s in source.settings)


def examples() -> dict[str, object]:
    """Each setting's example value, by name: with them every source sends its commands."""
    return {s.name: s.example for s in settings() if s.example is not None}
